package client

import (
	"reflect"
	"testing"
)

func TestSafeEnv(t *testing.T) {
	in := []string{
		"PATH=/usr/bin:/bin",
		"HOME=/home/alice",
		"CUDA_VISIBLE_DEVICES=0,1",
		"ARGUS_TOKEN=em_live_abc",
		"GITHUB_TOKEN=ghp_x",
		"aws_secret_access_key=s",
		"DB_PASSWORD=p",
		"MYSQL_PWD_PASSWD=p",
		"API_KEY=k",
		"GOOGLE_APPLICATION_CREDENTIALS=/k.json",
		"HTTP_AUTHORIZATION=Basic x",
		"COOKIE_JAR=x",
		"TMUX_SESSION=1",
		"INNOCENT=prefix ag_live_leaked suffix",
		"NOTES=em_live_",
		"=C:=C:\\dir",
		"NOEQUALS",
		"EMPTY=",
		"WITH_EQUALS=a=b",
	}
	want := map[string]string{
		"PATH":                 "/usr/bin:/bin",
		"HOME":                 "/home/alice",
		"CUDA_VISIBLE_DEVICES": "0,1",
		"EMPTY":                "",
		"WITH_EQUALS":          "a=b",
	}
	if got := SafeEnv(in); !reflect.DeepEqual(got, want) {
		t.Fatalf("SafeEnv =\n%v\nwant\n%v", got, want)
	}
}
