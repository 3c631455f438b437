package config

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// fieldError reports a bad value at n in the form pathErrors maps to a
// field path. A *yaml.TypeError lets the decoder go on and report more.
func fieldError(n *yaml.Node, format string, args ...any) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: column %d: %s", n.Line, n.Column, fmt.Sprintf(format, args...))}}
}

func quoteNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

// Decoder messages pathErrors rewrites.
var (
	reOurs    = regexp.MustCompile("^line ([0-9]+): column ([0-9]+): (.*)$")
	reUnknown = regexp.MustCompile("^line ([0-9]+): field (.*) not found in type (.*)$")
	reType    = regexp.MustCompile("^line ([0-9]+): cannot unmarshal (!!\\w+)(?: `(.*)`)? into (.*)$")
)

// pathErrors rewrites the decoder's "line N: …" messages as
// "field.path: …" using the node tree; a message it cannot place is kept.
func pathErrors(err error, root *yaml.Node) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	var idx []posEntry
	indexPaths(root, "", &idx)
	var errs []error
	for _, msg := range te.Errors {
		errs = append(errs, errors.New(placeError(msg, idx)))
	}
	return errors.Join(errs...)
}

func placeError(msg string, idx []posEntry) string {
	if m := reOurs.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		col, _ := strconv.Atoi(m[2])
		for _, e := range idx {
			if !e.key && e.line == line && e.col == col {
				return e.path + ": " + m[3]
			}
		}
		return fmt.Sprintf("line %d: %s", line, m[3])
	}
	if m := reUnknown.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		for _, e := range idx {
			if e.key && e.line == line && e.value == m[2] {
				return fmt.Sprintf("%s: unknown key (line %d); valid keys here: %s", e.path, line, strings.Join(knownKeys(e.path), ", "))
			}
		}
		return fmt.Sprintf("line %d: unknown key %q", line, m[2])
	}
	if m := reType.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		val := strings.TrimSuffix(m[3], "...")
		what := typeWords(m[4])
		// Several values may sit on the line: prefer the one whose field
		// has the type the decoder names, else the first that fits.
		var hit *posEntry
		for i := range idx {
			e := &idx[i]
			if e.key || e.line != line || !strings.HasPrefix(e.value, val) {
				continue
			}
			if t := typeAt(e.path); t != nil && t.String() == m[4] {
				hit = e
				break
			}
			if hit == nil {
				hit = e
			}
		}
		if hit == nil {
			return fmt.Sprintf("line %d: %s is not %s", line, strings.TrimSpace("`"+m[3]+"`"), what)
		}
		shown := strconv.Quote(hit.value)
		switch m[2] {
		case "!!map":
			shown = "a mapping"
		case "!!seq":
			shown = "a list"
		}
		return fmt.Sprintf("%s: %s is not %s", hit.path, shown, what)
	}
	return msg
}

// typeWords names a Go type the way a configuration's reader thinks of it.
func typeWords(goType string) string {
	switch {
	case strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "uint"):
		return "an integer"
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	}
	return "a mapping"
}

type posEntry struct {
	line, col int
	key       bool
	value     string
	path      string
}

// indexPaths records the position and field path of every key and value.
func indexPaths(n *yaml.Node, at string, out *[]posEntry) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			*out = append(*out, posEntry{line: c.Line, col: c.Column, value: c.Value, path: "(top level)"})
			indexPaths(c, at, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if at != "" {
				p = at + "." + k.Value
			}
			*out = append(*out, posEntry{line: k.Line, col: k.Column, key: true, value: k.Value, path: p})
			*out = append(*out, posEntry{line: v.Line, col: v.Column, value: v.Value, path: p})
			indexPaths(v, p, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", at, i)
			*out = append(*out, posEntry{line: c.Line, col: c.Column, value: c.Value, path: p})
			indexPaths(c, p, out)
		}
	}
}

// typeAt returns the Go type of the field at a path like
// "volumes[0].squash", or nil.
func typeAt(p string) reflect.Type {
	t := reflect.TypeOf(Config{})
	if p == "(top level)" {
		return t
	}
	for _, seg := range strings.Split(p, ".") {
		name, _, _ := strings.Cut(seg, "[")
		f, ok := fieldByTag(t, name)
		if !ok {
			return nil
		}
		t = f.Type
		for range strings.Count(seg, "[") {
			if t.Kind() != reflect.Slice {
				return nil
			}
			t = t.Elem()
		}
	}
	return t
}

// knownKeys lists the YAML keys allowed beside the key at path.
func knownKeys(keyPath string) []string {
	var t reflect.Type
	if i := strings.LastIndexByte(keyPath, '.'); i >= 0 {
		t = typeAt(keyPath[:i])
	} else {
		t = reflect.TypeOf(Config{})
	}
	for t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Pointer) {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var keys []string
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag != "" && tag != "-" {
			keys = append(keys, tag)
		}
	}
	return keys
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	if t.Kind() != reflect.Struct {
		return reflect.StructField{}, false
	}
	for i := range t.NumField() {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag == key {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}
