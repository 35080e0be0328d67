//go:build !faultinject

package agent

// fault is a no-op in real builds; see fault_on.go.
func fault(string) {}
