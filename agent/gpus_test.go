package agent

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/argus-exec/argus/server/api"
)

// a100x2 is internal/testenv.NvidiaSMIA100x2, which this package's
// internal tests cannot import on Windows.
const a100x2 = "0, NVIDIA A100-SXM4-80GB, 97, 79872, 81920\n1, NVIDIA A100-SXM4-80GB, 0, 4, 81920\n"

func TestParseGPUsReadsRecordedOutput(t *testing.T) {
	got, err := parseGPUs([]byte(a100x2))
	if err != nil {
		t.Fatal(err)
	}
	want := []api.GPU{
		{Index: 0, Name: "NVIDIA A100-SXM4-80GB", UtilPercent: 97, MemUsedMiB: 79872, MemTotalMiB: 81920},
		{Index: 1, Name: "NVIDIA A100-SXM4-80GB", UtilPercent: 0, MemUsedMiB: 4, MemTotalMiB: 81920},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestParseGPUsTakesWhatNvidiaSMICannotTellAsZero(t *testing.T) {
	got, err := parseGPUs([]byte("0, NVIDIA GeForce RTX 4090 D, [N/A], [Not Supported], 24564\r\n" +
		"1, Tesla K80, N/A, 11, [N/A]\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []api.GPU{
		{Index: 0, Name: "NVIDIA GeForce RTX 4090 D", MemTotalMiB: 24564},
		{Index: 1, Name: "Tesla K80", MemUsedMiB: 11},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestParseGPUsRefusesWhatIsNotTheQueriedCSV(t *testing.T) {
	for _, out := range []string{
		"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n",
		"index, name, utilization.gpu [%], memory.used [MiB], memory.total [MiB]\n0, A100, 97, 1, 2\n", // a header
		"0, A100, 97 %, 79872 MiB, 81920 MiB\n",                                                        // units
		"0, A100, 97, 79872\n",
		"0, A100, 97, 79872, 81920, 1\n",
		"0, A100, -1, 79872, 81920\n",
		"0, A100, 9.5, 79872, 81920\n",
		a100x2 + "2, A100, 0, 4\n",
		`0, A1"00, 97, 79872, 81920` + "\n",
	} {
		if gpus, err := parseGPUs([]byte(out)); err == nil {
			t.Errorf("%q: no error, got %+v", out, gpus)
		}
	}
}

func TestParseGPUsKeepsAtMostMaxGPUs(t *testing.T) {
	var out strings.Builder
	for i := range api.MaxGPUs + 4 {
		fmt.Fprintf(&out, "%d, NVIDIA H100 80GB HBM3, %d, 1, 81559\n", i, i)
	}
	got, err := parseGPUs([]byte(out.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != api.MaxGPUs || got[api.MaxGPUs-1].Index != api.MaxGPUs-1 {
		t.Fatalf("got %d GPUs, the last %+v; want the first %d", len(got), got[len(got)-1], api.MaxGPUs)
	}
}

func TestGPUNamesAreCutAndCleanedForTheServer(t *testing.T) {
	long := strings.Repeat("é", api.MaxGPUName) // two bytes each
	for in, want := range map[string]string{
		"NVIDIA\x1b[31m A100\x7f\u0085": "NVIDIA[31m A100",
		"bad \xff byte":                 "bad  byte",
		"A100\u200b\u202eX":             "A100X", // zero-width and bidi: the server refuses them
		long:                            long[:api.MaxGPUName],
		"a" + long:                      "a" + long[:api.MaxGPUName-2],
	} {
		got := gpuName(in)
		if got != want {
			t.Errorf("gpuName(%q) = %q, want %q", in, got, want)
		}
		if _, err := api.ParseResources(fmt.Sprintf(`{"gpus":[{"name":%q}]}`, got)); err != nil {
			t.Errorf("the server refuses %q: %v", got, err)
		}
	}
}

func TestTheReportFitsTheHeaderDroppingTheLastGPUs(t *testing.T) {
	r := api.Resources{CPUs: 8, Load1: 1.5, MemTotalBytes: 1 << 40}
	for i := range api.MaxGPUs {
		// JSON writes each < as \u003c: six bytes of header for one of name.
		r.GPUs = append(r.GPUs, api.GPU{Index: i, Name: strings.Repeat("<", api.MaxGPUName), MemTotalMiB: 81920})
	}
	out, err := encodeResources(r)
	if err != nil {
		t.Fatal(err)
	}
	back, err := api.ParseResources(out)
	if err != nil {
		t.Fatalf("the server refuses the report: %v", err)
	}
	if len(back.GPUs) == 0 || len(back.GPUs) == api.MaxGPUs || back.GPUs[0].Index != 0 || back.CPUs != 8 {
		t.Errorf("kept %d GPUs (first %+v) and CPUs %d; want the first few and the host figures", len(back.GPUs), back.GPUs[0], back.CPUs)
	}
	if len(out)+len(`{"index":99,"name":"","utilization_percent":0,"memory_used_mib":0,"memory_total_mib":81920},`)+6*api.MaxGPUName <= api.MaxResourcesHeader {
		t.Errorf("%d bytes: one more GPU would have fitted", len(out))
	}
}

func TestToolEnvHoldsNothingOfTheAgents(t *testing.T) {
	got := toolEnv([]string{
		"PATH=/usr/bin", "ARGUS_TOKEN=ag_live_x", "argus_url=http://h", "ARGUS_REPORT_RESOURCES=true",
		"LEAK=em_live_abcdefghijklmnopqrstuvwxyz0123456789", "CUDA_VISIBLE_DEVICES=0",
	})
	want := []string{"PATH=/usr/bin", "CUDA_VISIBLE_DEVICES=0"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
