package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tinykv-lab/tinykv/course/internal/stage"
)

// The classroom workflow grades every stage of course/internal/stage, each
// once: a stage added there without a step here would never be graded.
func TestClassroomGradesEveryStage(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(classroomTemplate)))
	if err != nil {
		t.Fatal(err)
	}
	graded := map[string]int{}
	for _, m := range regexp.MustCompile(`\$GRADE -stage (\S+)`).FindAllStringSubmatch(string(data), -1) {
		stages, err := stage.Expand(m[1])
		if err != nil {
			t.Errorf("%s: -stage %s: %v", classroomTemplate, m[1], err)
		}
		for _, s := range stages {
			graded[s]++
		}
	}
	var missing []string
	for _, s := range stage.All {
		switch graded[s] {
		case 0:
			missing = append(missing, s)
		case 1:
		default:
			t.Errorf("%s grades stage %s %d times", classroomTemplate, s, graded[s])
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s has no step for stage %s", classroomTemplate, strings.Join(missing, ", "))
	}
}
