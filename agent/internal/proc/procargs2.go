package proc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// This file has no build tag on purpose: macOS's process data formats are
// parsed here so they are unit-tested on every platform; proc_darwin.go
// only fetches the bytes.

// procArgs2Align is the alignment of the argument strings after the
// executable path in a KERN_PROCARGS2 buffer: xnu pads the saved path with
// NULs to the (64-bit) pointer size when it builds the new image's string
// area, counted from the start of that area (offset 4 of the buffer, after
// argc).
const procArgs2Align = 8

// parseProcArgs2 splits what sysctl kern.procargs2 returns for a process:
//
//	int32 argc | exec path NUL | NUL padding | argc strings | env strings
//
// Every string is NUL-terminated. The padding is skipped only up to the
// next alignment boundary, not up to the next non-NUL byte as is common:
// a process may have empty arguments (even an empty argv[0]), and skipping
// those would shift the environment by as many entries, so that a run's
// ARGUS_RUN_ID could be read as an argument and the process missed.
//
// The environment is what the process was started with. xnu appends its
// "apple" strings (executable_path=…, ptr_munge=…) to it with nothing in
// between, so env ends with them too; callers match whole entries, which
// none of those is. An empty string ends env early (what remains is
// unused stack).
func parseProcArgs2(b []byte) (argv, env []string, err error) {
	if len(b) < 4 {
		return nil, nil, fmt.Errorf("procargs2: %d bytes, too short for argc", len(b))
	}
	argc := int32(binary.NativeEndian.Uint32(b))
	if argc < 0 || int(argc) > len(b) {
		return nil, nil, fmt.Errorf("procargs2: implausible argc %d", argc)
	}
	area := b[4:]
	end := bytes.IndexByte(area, 0)
	if end < 0 {
		return nil, nil, errors.New("procargs2: the executable path is not terminated")
	}
	i := end + 1
	for i%procArgs2Align != 0 && i < len(area) && area[i] == 0 {
		i++
	}
	strs := area[i:]
	next := func() (string, bool) {
		n := bytes.IndexByte(strs, 0)
		if n < 0 {
			return "", false
		}
		s := string(strs[:n])
		strs = strs[n+1:]
		return s, true
	}
	argv = make([]string, 0, argc)
	for range argc {
		s, ok := next()
		if !ok {
			return nil, nil, fmt.Errorf("procargs2: %d of %d arguments present", len(argv), argc)
		}
		argv = append(argv, s)
	}
	for {
		s, ok := next()
		if !ok || s == "" {
			return argv, env, nil
		}
		env = append(env, s)
	}
}

// envHas reports whether a KEY=value list holds exactly entry.
func envHas(env []string, entry string) bool {
	for _, kv := range env {
		if kv == entry {
			return true
		}
	}
	return false
}

// darwinTicks turns a kinfo_proc start time (struct timeval: when the
// process was forked) into the uint64 kept as Process.StartTime:
// microseconds since the epoch, unique per process on one PID.
func darwinTicks(sec int64, usec int32) uint64 {
	return uint64(sec)*1_000_000 + uint64(usec)
}
