package stage

import (
	"reflect"
	"testing"
)

func TestOfTest(t *testing.T) {
	cases := map[string]string{
		"TestLeaderElection2AA":   "2AA",
		"TestRawGet1":             "1",
		"TestBasic2B":             "2B",
		"TestOneSnapshot2C":       "2C",
		"TestEmptyPrewrite4B":     "4B",
		"TestSplitRecover3B":      "3B",
		"TestSplit21":             "",
		"TestHelper":              "",
		"2B":                      "",
		"TestProgressLeader2AB":   "2AB",
		"TestTransferNonMember3A": "3A",
	}
	for name, want := range cases {
		got, ok := OfTest(name)
		if got != want || ok != (want != "") {
			t.Errorf("OfTest(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
}

func TestExpand(t *testing.T) {
	got, err := Expand("2b, 2a,1,2AB")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"1", "2AA", "2AB", "2AC", "2B"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Expand = %v, want %v", got, want)
	}
	for _, bad := range []string{"2D", "", " , ", "project1"} {
		if _, err := Expand(bad); err == nil {
			t.Errorf("Expand(%q) gave no error", bad)
		}
	}
}

func TestUpTo(t *testing.T) {
	if got, want := UpTo("2AB"), []string{"1", "2AA", "2AB"}; !reflect.DeepEqual(got, want) {
		t.Errorf("UpTo(2AB) = %v, want %v", got, want)
	}
	if got := UpTo("5A"); got != nil {
		t.Errorf("UpTo(5A) = %v, want nil", got)
	}
}
