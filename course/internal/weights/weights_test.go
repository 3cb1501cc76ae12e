package weights

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tinykv-lab/tinykv/course/internal/stage"
)

const sample = `{
	"stages": {
		"2B": {"points": 5, "timeout": "4m", "tests": {"TestBasic2B": {"points": 10}, "TestSlow2B": {"timeout": "8m"}}},
		"1": {"points": 1, "timeout": "30s"}
	}
}`

func TestForUsesStageDefaultsAndOverrides(t *testing.T) {
	f, err := Parse([]byte(sample), "sample")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		stage, test string
		points      int
		timeout     time.Duration
	}{
		{"2B", "TestBasic2B", 10, 4 * time.Minute},
		{"2B", "TestSlow2B", 5, 8 * time.Minute},
		{"2B", "TestOther2B", 5, 4 * time.Minute},
		{"1", "TestRawGet1", 1, 30 * time.Second},
		{"3C", "TestBalance3C", DefaultPoints, DefaultTimeout},
	}
	for _, c := range cases {
		p, d := f.For(c.stage, c.test)
		if p != c.points || d != c.timeout {
			t.Errorf("For(%s, %s) = %d, %v; want %d, %v", c.stage, c.test, p, d, c.points, c.timeout)
		}
	}
}

func TestParseRejectsBadFiles(t *testing.T) {
	bad := map[string]string{
		"unknown stage":     `{"stages": {"2D": {"points": 1, "timeout": "1m"}}}`,
		"no timeout":        `{"stages": {"1": {"points": 1}}}`,
		"bad duration":      `{"stages": {"1": {"points": 1, "timeout": "soon"}}}`,
		"negative duration": `{"stages": {"1": {"points": 1, "timeout": "-1s"}}}`,
		"wrong stage":       `{"stages": {"1": {"points": 1, "timeout": "1m", "tests": {"TestBasic2B": {}}}}}`,
		"negative points":   `{"stages": {"1": {"points": -1, "timeout": "1m"}}}`,
		"unknown field":     `{"stages": {}, "extra": 1}`,
		"not json":          `stages: 1`,
	}
	for name, text := range bad {
		if _, err := Parse([]byte(text), "bad.json"); err == nil || !strings.Contains(err.Error(), "bad.json") {
			t.Errorf("%s: got error %v, want one that names the file", name, err)
		}
	}
}

func TestWithoutAndMarshalRoundTrip(t *testing.T) {
	f, err := Parse([]byte(sample), "sample")
	if err != nil {
		t.Fatal(err)
	}
	if n := f.Without(map[string]bool{"TestSlow2B": true, "TestNothing1": true}); n != 1 {
		t.Errorf("Without removed %d entries, want 1", n)
	}
	again, err := Parse(f.Marshal(), "marshalled")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(again.Listed(), ","); got != "TestBasic2B" {
		t.Errorf("after removal the file lists %q, want TestBasic2B", got)
	}
	if !bytes.Equal(again.Marshal(), f.Marshal()) {
		t.Error("Marshal is not stable across a round trip")
	}
}

// The committed weights file must load and be in canonical form, so that the
// handout generator can rewrite it without reformatting anything.
func TestCommittedWeightsFile(t *testing.T) {
	path := filepath.Join("..", "..", "weights.json")
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		t.Skip("no weights file in this tree")
	}
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(data, path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.Marshal(), data) {
		t.Errorf("%s is not in canonical form; rewrite it with the output of weights.File.Marshal (tabs, sorted keys)", path)
	}
	// Every stage of the course has its own points and timeout: a stage added
	// to course/internal/stage must not be graded with the defaults unseen.
	for _, s := range stage.All {
		if f.Stages[s] == nil {
			t.Errorf("%s has no entry for stage %s (stages are %v)", path, s, stage.All)
		}
	}
}
