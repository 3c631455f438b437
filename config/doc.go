// Package config is the configuration of nfscacheproxy: its schema (the
// YAML file of `serve --config PATH`), built-in defaults, the sources and
// their precedence, validation with field paths, and what a reload may
// change.
//
// Precedence, lowest first: built-in defaults (Default) < the file
// (Load) < environment variables (ApplyEnv) < command-line flags
// (applied by cmd/nfscacheproxy). Validate runs last, on the merged result, and
// reports every problem at once, each naming its field path
// ("volumes[1].coherency.acregmax: …") and the reason.
//
// deploy/nfscacheproxy.example.yaml documents every field with its default.
//
// Files: config.go the schema and defaults, load.go and yamlerr.go the
// YAML file (strict decoding, errors rewritten to field paths), env.go the
// environment, validate.go the rules, units.go sizes and durations,
// reload.go what a reload changes. The package holds no state and starts
// nothing; it does not read flags (cmd/nfscacheproxy does).
//
// It must not open sockets, files other than the configuration, or start
// anything; building the parts from a Config is cmd/nfscacheproxy's job.
// Locks: none (a Config is a value; a reload builds a new one).
package config
