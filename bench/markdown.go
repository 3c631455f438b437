package bench

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The matrix section of a Markdown file lies between these markers, which
// are kept; everything outside them is left as it was.
const (
	MarkerStart = "<!-- bench:matrix:start -->"
	MarkerEnd   = "<!-- bench:matrix:end -->"
)

// ReplaceSection returns doc with the text between MarkerStart and
// MarkerEnd replaced by body. Without markers, the section (markers and
// body) is appended, after a blank line when doc is not empty.
func ReplaceSection(doc, body string) (string, error) {
	body = strings.TrimRight(body, "\n") + "\n"
	i := strings.Index(doc, MarkerStart)
	j := strings.Index(doc, MarkerEnd)
	switch {
	case i < 0 && j < 0:
		var b strings.Builder
		b.WriteString(doc)
		if doc != "" {
			if !strings.HasSuffix(doc, "\n") {
				b.WriteString("\n")
			}
			b.WriteString("\n")
		}
		b.WriteString(MarkerStart + "\n" + body + MarkerEnd + "\n")
		return b.String(), nil
	case i < 0 || j < 0 || j < i:
		return "", ErrMarkers
	case strings.Count(doc, MarkerStart) != 1 || strings.Count(doc, MarkerEnd) != 1:
		return "", fmt.Errorf("%w: more than one section", ErrMarkers)
	}
	return doc[:i] + MarkerStart + "\n" + body + doc[j:], nil
}

// WriteSection replaces the matrix section of the Markdown file at path
// (creating the file if it does not exist), through a temporary file renamed
// into place.
func WriteSection(path, body string) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("bench: read %s: %w", path, err)
	}
	doc, err := ReplaceSection(string(old), body)
	if err != nil {
		return fmt.Errorf("bench: %s: %w", path, err)
	}
	mode := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("bench: write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(doc); err != nil {
		tmp.Close()
		return fmt.Errorf("bench: write %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("bench: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("bench: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("bench: write %s: %w", path, err)
	}
	return nil
}
