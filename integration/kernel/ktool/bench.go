package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// runSmallfiles times small-file metadata work in DIR and prints
// "NAME VALUE UNIT" lines for the benchmark:
//
//	smallfiles create DIR N SIZE   create, write SIZE bytes, close N files
//	smallfiles stat DIR            list DIR and lstat every entry (ls -l)
//	smallfiles read DIR            open, read and close every file
func runSmallfiles(args []string) error {
	if len(args) < 2 {
		return usageError{"usage: smallfiles create DIR N SIZE | stat DIR | read DIR"}
	}
	dir := args[1]
	start := time.Now()
	n := 0
	switch args[0] {
	case "create":
		if len(args) != 4 {
			return usageError{"usage: smallfiles create DIR N SIZE"}
		}
		count, err1 := strconv.Atoi(args[2])
		size, err2 := strconv.Atoi(args[3])
		if err1 != nil || err2 != nil || count < 1 || size < 0 {
			return usageError{"bad N or SIZE"}
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		data := make([]byte, size)
		fillPattern(data, 5, 0)
		start = time.Now()
		for ; n < count; n++ {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("n%06d", n)), data, 0o644); err != nil {
				return err
			}
		}
	case "stat":
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if _, err := os.Lstat(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
			n++
		}
	case "read":
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			f, err := os.Open(filepath.Join(dir, e.Name()))
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, f)
			f.Close()
			if err != nil {
				return err
			}
			n++
		}
	default:
		return usageError{"smallfiles: want create, stat or read"}
	}
	secs := time.Since(start).Seconds()
	fmt.Printf("files %d\nseconds %.3f\nper_second %.1f\n", n, secs, float64(n)/secs)
	return nil
}
