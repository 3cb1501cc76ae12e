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

func TestTargets(t *testing.T) {
	want := []string{"project1", "project2a", "project2aa", "project2ab", "project2ac", "project2b", "project2c",
		"project3a", "project3b", "project3c", "project4a", "project4b", "project4c"}
	if got := Targets(); !reflect.DeepEqual(got, want) {
		t.Errorf("Targets() = %v, want %v", got, want)
	}
	for _, target := range Targets() {
		if _, err := Expand(target[len("project"):]); err != nil {
			t.Errorf("target %s names no stage: %v", target, err)
		}
	}
}

func TestCluster(t *testing.T) {
	var cluster []string
	for _, s := range All {
		if Cluster(s) {
			cluster = append(cluster, s)
		}
	}
	if want := []string{"2B", "2C", "3B", "3C"}; !reflect.DeepEqual(cluster, want) {
		t.Errorf("cluster stages %v, want %v", cluster, want)
	}
	if Cluster("5A") {
		t.Error("an unknown stage is a cluster stage")
	}
}

func TestGroupsAreConsecutiveStages(t *testing.T) {
	for _, g := range Groups {
		first := Index(g.Stages[0])
		for i, s := range g.Stages {
			if first < 0 || Index(s) != first+i {
				t.Errorf("group %s: %v are not consecutive stages of %v", g.Name, g.Stages, All)
			}
		}
		if Known(g.Name) {
			t.Errorf("group %s has the name of a stage", g.Name)
		}
	}
}
