package harness

import (
	"fmt"
	"strings"
)

// ganeshaConfig is what one instance's configuration file needs.
type ganeshaConfig struct {
	Host         string
	NFSPort      int
	MountPort    int
	NLMPort      int    // 0: NLM off
	Dir          string // exported directory
	Export       string // pseudo path, e.g. "/export"
	RecoveryRoot string
	DBusPrefix   string
	CCacheDir    string
}

// render returns the ganesha.conf text.
//
// Beyond the minimal NFSv3 configuration, it keeps instances apart: its own
// RecoveryRoot (default /var/lib/nfs/ganesha), D-Bus name prefix (default
// org.ganesha.nfsd, which a second instance could not own) and callback
// credential cache directory (default /var/run/ganesha, created even with
// Kerberos off). Attr_Expiration_Time = 0 turns off ganesha's own attribute
// cache, so changes the tests make directly in the exported directory are
// seen at once (they bypass ganesha; an NFS client's change would not); the
// pid file and the log are given on the command line. Mount_Path_Pseudo makes MOUNT accept
// the pseudo path ("/export") instead of the local path. Kerberos is off:
// there is no keytab and only AUTH_SYS is used.
func (c ganeshaConfig) render() string {
	var b strings.Builder
	fmt.Fprintf(&b, `# Written by integration/harness.
NFS_CORE_PARAM {
	Protocols = 3;
	Bind_addr = %s;
	NFS_Port = %d;
	MNT_Port = %d;
	Enable_UDP = false;
%s	Enable_RQUOTA = false;
	Mount_Path_Pseudo = true;
	Dbus_Name_Prefix = %s;
}
NFS_KRB5 {
	Active_krb5 = false;
	CCacheDir = %s;
}
NFSV4 {
	Graceless = true;
	RecoveryRoot = %s;
}
EXPORT {
	Export_Id = 1;
	Path = %s;
	Pseudo = %s;
	Protocols = 3;
	Transports = TCP;
	Access_Type = RW;
	Squash = No_Root_Squash;
	SecType = sys;
	Attr_Expiration_Time = 0;
	FSAL {
		Name = VFS;
	}
}
`, c.Host, c.NFSPort, c.MountPort, c.nlmLines(), quote(c.DBusPrefix), quote(c.CCacheDir),
		quote(c.RecoveryRoot), quote(c.Dir), quote(c.Export))
	return b.String()
}

// nlmLines returns the NFS_CORE_PARAM lines that turn NLM off, or on at
// NLMPort.
func (c ganeshaConfig) nlmLines() string {
	if c.NLMPort == 0 {
		return "\tEnable_NLM = false;\n"
	}
	return fmt.Sprintf("\tEnable_NLM = true;\n\tNLM_Port = %d;\n", c.NLMPort)
}

// quote makes a ganesha config string. The parser has no escapes, so a
// value containing a double quote or a newline cannot be written.
func quote(s string) string {
	return `"` + s + `"`
}

// validConfigString reports whether s can be written by quote.
func validConfigString(s string) bool {
	return !strings.ContainsAny(s, "\"\n\r\x00")
}
