package grading

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tinykv-lab/tinykv/course/internal/gotest"
)

// TableOptions say how the report is printed.
type TableOptions struct {
	Color    bool
	Tags     []string
	Race     bool
	TailSize int // output lines shown per failing test
}

// WriteTable prints the results table, the details of every test that did not
// pass, and the score line last.
func WriteTable(w io.Writer, rep *Report, opts TableOptions) {
	if len(rep.Tests) == 0 {
		fmt.Fprintln(w, rep.ScoreLine())
		return
	}
	runs := 0
	for _, t := range rep.Tests {
		if len(t.Runs) > runs {
			runs = len(t.Runs)
		}
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	header := "TEST\tPACKAGE\tPOINTS\tRESULT\tMEAN"
	if runs > 1 {
		header = "TEST\tPACKAGE\tPOINTS\tRESULT\tPASSED\tMEAN"
	}
	fmt.Fprintln(tw, header)
	for _, t := range rep.Tests {
		verdict := Paint(opts.Color, VerdictColour(t.Verdict), strings.ToUpper(t.Verdict))
		name := t.Name
		if t.Hidden {
			name += " (hidden)"
		}
		row := []string{name, t.Dir, fmt.Sprintf("%d/%d", t.Earned, t.Points), verdict}
		if runs > 1 {
			row = append(row, fmt.Sprintf("%d/%d", t.Passed, len(t.Runs)))
		}
		row = append(row, round(t.Mean()).String())
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	writeFailures(w, rep, opts)
	fmt.Fprintf(w, "\n%d tests in %v\n", len(rep.Tests), round(rep.Elapsed))
	fmt.Fprintln(w, rep.ScoreLine())
}

func round(d time.Duration) time.Duration {
	if d > 10*time.Second {
		return d.Round(time.Second)
	}
	return d.Round(10 * time.Millisecond)
}

// writeFailures explains each test that did not pass: why, the end of its
// output, where the whole log is, and how to run it again.
func writeFailures(w io.Writer, rep *Report, opts TableOptions) {
	for _, t := range rep.Tests {
		run := t.FirstFailure()
		if run == nil {
			continue
		}
		fmt.Fprintf(w, "\n%s %s (%s:%d)", Paint(opts.Color, VerdictColour(t.Verdict), "---"), t.Name, t.File, t.Line)
		if len(t.Runs) > 1 {
			fmt.Fprintf(w, ", run %d of %d, passed %d", run.N, len(t.Runs), t.Passed)
		}
		fmt.Fprintf(w, "\n    %s: %s\n", run.Reason, run.Message)
		tail := run.Tail
		if opts.TailSize > 0 && len(tail) > opts.TailSize {
			tail = tail[len(tail)-opts.TailSize:]
		}
		for _, line := range tail {
			fmt.Fprintf(w, "    | %s\n", line)
		}
		if run.Log != "" {
			fmt.Fprintf(w, "    full log: %s\n", run.Log)
		}
		if run.Reason != gotest.ReasonBuildFailed {
			fmt.Fprintf(w, "    run it:   %s\n", Replay(t.Test, opts.Tags, opts.Race))
		}
	}
}

// WriteJSON writes the report as indented JSON to path.
func WriteJSON(path string, rep *Report) error {
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// JUnit XML, as read by CI systems: one suite per package, one case per test.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// WriteJUnit writes the report as JUnit XML to path.
func WriteJUnit(path, name string, rep *Report) error {
	doc := junitSuites{Name: name, Tests: len(rep.Tests), Failures: rep.Failed, Time: seconds(rep.Elapsed)}
	index := map[string]int{}
	suiteTime := map[int]time.Duration{}
	for _, t := range rep.Tests {
		i, ok := index[t.ImportPath]
		if !ok {
			i = len(doc.Suites)
			index[t.ImportPath] = i
			doc.Suites = append(doc.Suites, junitSuite{Name: t.ImportPath})
		}
		s := &doc.Suites[i]
		c := junitCase{Name: t.Name, Classname: t.ImportPath, Time: seconds(t.Mean())}
		if run := t.FirstFailure(); run != nil {
			msg := &junitMessage{Message: fmt.Sprintf("%s: %s", run.Reason, run.Message), Type: t.Verdict,
				Text: strings.Join(run.Tail, "\n")}
			if t.Verdict == VerdictSkip {
				c.Skipped = msg
				s.Skipped++
			} else {
				msg.Message = fmt.Sprintf("%s (passed %d of %d runs)", msg.Message, t.Passed, len(t.Runs))
				c.Failure = msg
				s.Failures++
			}
		}
		s.Tests++
		s.Cases = append(s.Cases, c)
		suiteTime[i] += t.Mean()
	}
	for i := range doc.Suites {
		doc.Suites[i].Time = seconds(suiteTime[i])
	}
	data, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append([]byte(xml.Header), append(data, '\n')...), 0o644)
}

// classroomResult is the result format of GitHub Classroom's autograding
// runners (the `result` output of classroom-resources/autograding-command-grader,
// base64-encoded by the workflow), which the grading reporter sums up.
type classroomResult struct {
	Version  int             `json:"version"`
	Status   string          `json:"status"`
	MaxScore int             `json:"max_score"`
	Tests    []classroomTest `json:"tests"`
}

type classroomTest struct {
	Name          string `json:"name"`
	Status        string `json:"status"`
	Score         int    `json:"score"`
	Message       string `json:"message"`
	TestCode      string `json:"test_code"`
	Filename      string `json:"filename"`
	LineNo        int    `json:"line_no"`
	ExecutionTime string `json:"execution_time"`
}

// WriteClassroom writes the report in the autograding result format.
func WriteClassroom(path string, rep *Report, tags []string) error {
	res := classroomResult{Version: 1, Status: "pass", MaxScore: rep.Total, Tests: []classroomTest{}}
	for _, t := range rep.Tests {
		ct := classroomTest{Name: t.Name, Status: "pass", Score: t.Earned, TestCode: Replay(t.Test, tags, false),
			Filename: t.File, LineNo: t.Line, ExecutionTime: fmt.Sprintf("%.2fs", t.Mean().Seconds())}
		if run := t.FirstFailure(); run != nil {
			ct.Status, res.Status = "fail", "fail"
			ct.Message = fmt.Sprintf("%s: %s", run.Reason, run.Message)
		}
		res.Tests = append(res.Tests, ct)
	}
	data, err := json.Marshal(res)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}
