package proc

import (
	"encoding/binary"
	"reflect"
	"testing"
)

// procArgs2 builds a KERN_PROCARGS2 buffer the way xnu lays it out: argc,
// the exec path, NULs up to the next multiple of 8 of the string area
// (which starts after argc), then NUL-terminated strings; tail is
// appended raw (the unused stack the kernel may copy out too).
func procArgs2Bytes(argc int32, path string, strs []string, tail string) []byte {
	b := binary.NativeEndian.AppendUint32(nil, uint32(argc))
	b = append(b, path...)
	b = append(b, 0)
	for (len(b)-4)%8 != 0 {
		b = append(b, 0)
	}
	for _, s := range strs {
		b = append(b, s...)
		b = append(b, 0)
	}
	return append(b, tail...)
}

func TestParseProcArgs2(t *testing.T) {
	apple := []string{"executable_path=/bin/sleep", "ptr_munge=", "main_stack="}
	cases := []struct {
		name      string
		buf       []byte
		argv, env []string
	}{
		{"argv, env and apple strings",
			procArgs2Bytes(2, "/bin/sleep", append([]string{"sleep", "60", "HOME=/Users/a", "ARGUS_RUN_ID=run_1"}, apple...), "\x00\x00\x00"),
			[]string{"sleep", "60"}, append([]string{"HOME=/Users/a", "ARGUS_RUN_ID=run_1"}, apple...)},
		// Skipping every NUL after the path would eat these empty
		// arguments and read ARGUS_RUN_ID as one.
		{"empty argv[0] and an empty argument",
			procArgs2Bytes(3, "/usr/bin/python3", []string{"", "", "train.py", "ARGUS_RUN_ID=run_2"}, ""),
			[]string{"", "", "train.py"}, []string{"ARGUS_RUN_ID=run_2"}},
		// "/bin/ls" and its NUL fill 8 bytes exactly: no padding at all.
		{"path needing no padding",
			procArgs2Bytes(2, "/bin/ls", []string{"", "-l", "ARGUS_RUN_ID=run_3"}, ""),
			[]string{"", "-l"}, []string{"ARGUS_RUN_ID=run_3"}},
		{"no arguments",
			procArgs2Bytes(0, "/bin/x", []string{"A=1"}, ""),
			[]string{}, []string{"A=1"}},
		{"an empty string ends the environment",
			procArgs2Bytes(1, "/bin/x", []string{"x", "A=1", "", "ARGUS_RUN_ID=stale"}, ""),
			[]string{"x"}, []string{"A=1"}},
		{"an unterminated last entry is dropped, not matched half-read",
			procArgs2Bytes(1, "/bin/x", []string{"x", "A=1"}, "ARGUS_RUN_ID=run_4"),
			[]string{"x"}, []string{"A=1"}},
	}
	for _, c := range cases {
		argv, env, err := parseProcArgs2(c.buf)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !reflect.DeepEqual(argv, c.argv) || !reflect.DeepEqual(env, c.env) {
			t.Errorf("%s:\n argv %q, want %q\n env %q, want %q", c.name, argv, c.argv, env, c.env)
		}
	}
}

func TestParseProcArgs2RefusesMalformedBuffers(t *testing.T) {
	cases := map[string][]byte{
		"shorter than argc":      {1, 0},
		"negative argc":          procArgs2Bytes(-1, "/bin/x", []string{"x"}, ""),
		"argc beyond the buffer": procArgs2Bytes(1<<20, "/bin/x", []string{"x"}, ""),
		"fewer args than argc":   procArgs2Bytes(3, "/bin/x", []string{"a", "b"}, ""),
		"unterminated path":      append(binary.NativeEndian.AppendUint32(nil, 1), "/bin/x"...),
	}
	for name, buf := range cases {
		if argv, env, err := parseProcArgs2(buf); err == nil {
			t.Errorf("%s: parsed as argv %q env %q", name, argv, env)
		}
	}
}

// The entry must match whole: a longer run id, a prefix or an argument
// that merely mentions it is another run's or nobody's.
func TestEnvHasMatchesWholeEntries(t *testing.T) {
	env := []string{"ARGUS_RUN_ID=run_10", "X=ARGUS_RUN_ID=run_1", "ARGUS_RUN_ID=run_1x"}
	if envHas(env, "ARGUS_RUN_ID=run_1") {
		t.Fatal("a partial match counted")
	}
	if !envHas(append(env, "ARGUS_RUN_ID=run_1"), "ARGUS_RUN_ID=run_1") {
		t.Fatal("the exact entry did not count")
	}
}

func TestDarwinTicksAreUniquePerStartTime(t *testing.T) {
	if got := darwinTicks(1_700_000_000, 123_456); got != 1_700_000_000_123_456 {
		t.Fatalf("darwinTicks = %d", got)
	}
	// A PID reused a microsecond or a second later has other ticks, and
	// later starts have larger ones.
	a, b, c := darwinTicks(100, 999_999), darwinTicks(101, 0), darwinTicks(101, 1)
	if !(a < b && b < c) {
		t.Fatalf("ticks not increasing: %d %d %d", a, b, c)
	}
}
