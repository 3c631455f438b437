#!/bin/bash
# Benchmark target "guestproxy" (run by init.sh: setup-guestproxy.sh
# start|stop): the nfscacheproxy binary (/ksuite/bin/nfscacheproxy, built
# by the host) runs inside the guest, in front of the same far upstream as
# the knfsd target, with its data cache on the guest's disk, so that both
# caches pay the emulated CPU. The host writes its configuration to
# /ksuite/guestproxy.yaml (listen 127.0.0.1:GUESTPROXY_PORT, upstream
# 10.0.2.2 at the relay's ports, cache dir /var/cache/nfscacheproxy).
set -u
export PATH=/ksuite/bin:/usr/sbin:/usr/bin:/sbin:/bin
port=$(sed -n 's/^listen: "127.0.0.1:\([0-9]*\)"$/\1/p' /ksuite/guestproxy.yaml)
pidfile=/run/guestproxy.pid

start() {
	local end
	[ -n "$port" ] || { echo "setup-guestproxy.sh: no listen port in guestproxy.yaml" >&2; return 1; }
	mkdir -p /var/cache/nfscacheproxy
	nfscacheproxy serve --config /ksuite/guestproxy.yaml >"$RESULT_DIR/proxy.log" 2>&1 &
	echo $! >"$pidfile"
	end=$((SECONDS + 60))
	until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
			echo "setup-guestproxy.sh: the proxy exited:" >&2
			tail -n 20 "$RESULT_DIR/proxy.log" >&2
			return 1
		fi
		if [ $SECONDS -ge $end ]; then
			echo "setup-guestproxy.sh: timed out after 60s waiting for 127.0.0.1:$port" >&2
			return 1
		fi
		sleep 0.2
	done
}

stop() {
	[ -r "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
	du -sk /var/cache/nfscacheproxy >"$RESULT_DIR/cache.du" 2>&1
	return 0
}

case ${1:-} in
start) start ;;
stop) stop ;;
*) echo "usage: setup-guestproxy.sh start|stop" >&2; exit 2 ;;
esac
