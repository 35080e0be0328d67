package proc

import "testing"

func TestLookupEnvLastWinsAndFoldsOnlyWhenAsked(t *testing.T) {
	env := []string{"PATH=/a", "Path=C:\\w", "PATH=/b=c", "X"}
	if v, ok := lookupEnv(env, "PATH", false); !ok || v != "/b=c" {
		t.Fatalf("exact PATH = %q, %v", v, ok)
	}
	if v, ok := lookupEnv([]string{"Path=C:\\w"}, "PATH", false); ok {
		t.Fatalf("case-sensitive lookup found %q", v)
	}
	if v, ok := lookupEnv([]string{"PATH=/a", "Path=C:\\w"}, "PATH", true); !ok || v != `C:\w` {
		t.Fatalf("folded PATH = %q, %v", v, ok)
	}
	if _, ok := lookupEnv(env, "X", false); ok {
		t.Fatal("an entry without = has no value")
	}
}
