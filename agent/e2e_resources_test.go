//go:build linux

// The resources report end to end: from the agent's host, through its
// polls and heartbeats, to what the server lists for the UI.

package agent_test

import (
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/argus-exec/argus/client"
	"github.com/argus-exec/argus/internal/testenv"
	"github.com/argus-exec/argus/server/api"
)

func TestTheServerListsTheAgentsHostAndGPUs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	home := e.agentHome("")
	e.startAgent(home, "PATH="+testenv.FakeNvidiaSMI(t, testenv.NvidiaSMIA100x2)+":"+os.Getenv("PATH"))
	want := []api.GPU{
		{Index: 0, Name: "NVIDIA A100-SXM4-80GB", UtilPercent: 97, MemUsedMiB: 79872, MemTotalMiB: 81920},
		{Index: 1, Name: "NVIDIA A100-SXM4-80GB", UtilPercent: 0, MemUsedMiB: 4, MemTotalMiB: 81920},
	}
	var last *api.Resources
	e.WaitFor(20*time.Second, "the agent's resources on the server", func() bool {
		list, err := e.user.Agents(t.Context(), client.ListOptions{})
		if err != nil {
			return false
		}
		for _, a := range list.Agents {
			if a.ID == e.ids[home] {
				last = a.Resources
			}
		}
		return last != nil && len(last.GPUs) > 0
	})
	if !reflect.DeepEqual(last.GPUs, want) || last.CPUs <= 0 || last.MemTotalBytes == 0 || last.DiskTotalBytes == 0 {
		t.Fatalf("the server lists %+v, want the host's figures and GPUs %+v", *last, want)
	}
}
