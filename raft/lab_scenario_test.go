package raft

// Scenario tests: stories told as text files under testdata/, one command
// per line, each followed by "----" and what the cluster did. A file named
// NAME_STAGE.txt belongs to stage STAGE (TestScenarios2AC runs *_2AC.txt).
//
//	# Lines starting with # tell the story; blank lines separate steps.
//	campaign 1
//	----
//	1 is StateCandidate (lead 0) at term 1
//	send 1->2 MsgRequestVote term=1 index=0 logterm=0
//
// After a change to the library, rewrite the expected output with
//
//	go test ./raft -run TestScenarios -rewrite
//
// and read the diff: it is the change in behaviour.
//
// Commands (ids are node ids):
//
//	cluster nodes=N [election=10] [heartbeat=1] [boot=0] [seed=1]
//	                      start N nodes; boot=I starts them from a snapshot
//	                      at index and term I (needed to add nodes later)
//	campaign ID           the node campaigns (MsgHup)
//	propose ID DATA       propose an entry
//	tick ID [N]           N ticks (default 1) on one node; "tick all [N]"
//	deliver [N|FROM TO]   deliver the first N messages in flight, or those
//	                      from FROM to TO (default: all those in flight now,
//	                      not the answers they cause)
//	stabilize             deliver until nothing is in flight
//	drop [FROM TO]        drop the messages in flight (from FROM to TO)
//	partition A.. | B..   cut every link between the groups
//	isolate ID / heal     cut a node off / restore every link
//	crash ID / restart ID lose a node's memory / restart it from storage
//	compact ID            snapshot the state machine, compact the log
//	transfer ID TO        ask node ID to hand leadership to TO
//	add-node ID NEW       node ID proposes adding NEW (created empty)
//	remove-node ID OLD    node ID proposes removing OLD
//	status                every node's state
//	log ID                a node's log
//
// Every command's output lists deliveries and role changes as they
// happen, then "send ..." for each new message still in flight. The safety
// invariants are checked after every command.

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	pb "github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
)

var rewriteScenarios = flag.Bool("rewrite", false, "rewrite the expected output of the scenario files under testdata/")

type scenarioStep struct {
	preamble []string // comments and blank lines before the command
	command  string
	line     int
	expected []string
}

func parseScenario(text string) []scenarioStep {
	var steps []scenarioStep
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	var cur scenarioStep
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			cur.preamble = append(cur.preamble, line)
			continue
		}
		cur.command, cur.line = trimmed, i+1
		if i+1 < len(lines) && strings.TrimSpace(lines[i+1]) == "----" {
			i++
			for i+1 < len(lines) && strings.TrimSpace(lines[i+1]) != "" {
				i++
				cur.expected = append(cur.expected, lines[i])
			}
		}
		steps = append(steps, cur)
		cur = scenarioStep{}
	}
	if len(cur.preamble) > 0 {
		steps = append(steps, cur)
	}
	return steps
}

func formatScenario(steps []scenarioStep, outputs [][]string) string {
	var b strings.Builder
	for i, st := range steps {
		for _, p := range st.preamble {
			b.WriteString(p + "\n")
		}
		if st.command == "" {
			continue
		}
		b.WriteString(st.command + "\n----\n")
		for _, o := range outputs[i] {
			b.WriteString(o + "\n")
		}
	}
	return b.String()
}

func runScenarios(t *testing.T, stage string) {
	files, err := filepath.Glob(filepath.Join("testdata", "*_"+stage+".txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenario files testdata/*_%s.txt (%v)", stage, err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			runScenarioFile(t, file)
		})
	}
}

func runScenarioFile(t *testing.T, file string) {
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	steps := parseScenario(string(text))
	run := &scenarioRun{}
	outputs := make([][]string, len(steps))
	for i, st := range steps {
		if st.command == "" {
			continue
		}
		outputs[i] = run.do(st.command)
		if run.c != nil {
			run.c.check()
			if run.c.failure != "" {
				t.Fatalf("%s:%d: %s: safety violated: %s", file, st.line, st.command, run.c.report())
			}
		}
		if *rewriteScenarios {
			continue
		}
		want, got := strings.Join(st.expected, "\n"), strings.Join(outputs[i], "\n")
		if want != got {
			t.Fatalf("%s:%d: %s: the cluster did something else than the story says:\n%s\n"+
				"(if the new behaviour is right: go test ./raft -run TestScenarios -rewrite)",
				file, st.line, st.command, diffu(want, got))
		}
	}
	if *rewriteScenarios {
		if err := os.WriteFile(file, []byte(formatScenario(steps, outputs)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// scenarioRun executes commands on one cluster and collects their output.
type scenarioRun struct {
	c   *simCluster
	out []string
}

func (s *scenarioRun) printf(format string, args ...interface{}) {
	s.out = append(s.out, fmt.Sprintf(format, args...))
}

func (s *scenarioRun) do(command string) []string {
	s.out = nil
	fields := strings.Fields(command)
	name, args := fields[0], fields[1:]
	if name != "cluster" && s.c == nil {
		return []string{"error: start with a cluster command"}
	}
	sent := 0
	if s.c != nil {
		sent = s.c.sent
	}
	if err := s.exec(name, args); err != nil {
		s.printf("error: %v", err)
	}
	if s.c != nil && name != "cluster" {
		for _, m := range s.c.queue {
			if m.seq >= sent {
				s.printf("send %s", describeMsg(m.Message))
			}
		}
	}
	return s.out
}

func (s *scenarioRun) exec(name string, args []string) error {
	ids, err := scenarioIDs(args)
	switch name {
	case "cluster":
		return s.cluster(args)
	case "status":
		for _, line := range strings.Split(strings.TrimRight(s.c.describeNodes(), "\n"), "\n") {
			s.printf("%s", line)
		}
		return nil
	case "stabilize":
		s.c.deliverAll()
		return nil
	case "heal":
		s.c.heal()
		return nil
	case "deliver":
		return s.deliver(args, ids, err)
	case "drop":
		return s.drop(ids, err)
	case "partition":
		return s.partition(args)
	case "tick":
		return s.tick(args)
	case "propose":
		if len(args) != 2 {
			return fmt.Errorf("usage: propose ID DATA")
		}
		id, err := strconv.ParseUint(args[0], 10, 64)
		if err != nil {
			return err
		}
		return s.c.propose(id, []byte(args[1]))
	}
	if err != nil {
		return err
	}
	return s.nodeCommand(name, ids)
}

// nodeCommand runs the commands that take node ids only.
func (s *scenarioRun) nodeCommand(name string, ids []uint64) error {
	want := map[string]int{"campaign": 1, "isolate": 1, "crash": 1, "restart": 1, "compact": 1, "log": 1,
		"transfer": 2, "add-node": 2, "remove-node": 2}
	n, ok := want[name]
	if !ok {
		return fmt.Errorf("unknown command %q", name)
	}
	if len(ids) != n {
		return fmt.Errorf("%s takes %d node ids, got %d", name, n, len(ids))
	}
	node := s.c.nodes[ids[0]]
	if node == nil {
		return fmt.Errorf("no node %d", ids[0])
	}
	switch name {
	case "campaign":
		if !node.live() {
			return fmt.Errorf("node %d is down", node.id)
		}
		err := node.rn.Campaign()
		s.c.process(node)
		return err
	case "isolate":
		s.c.isolate(node.id)
	case "crash":
		s.c.crash(node.id)
	case "restart":
		s.c.restart(node.id)
	case "compact":
		s.c.compact(node.id)
	case "log":
		s.log(node)
	case "transfer":
		if !node.live() {
			return fmt.Errorf("node %d is down", node.id)
		}
		node.rn.TransferLeader(ids[1])
		s.c.process(node)
	case "add-node":
		s.c.addNode(ids[1])
		return s.c.proposeConfChange(node.id, pb.ConfChange{ChangeType: pb.ConfChangeType_AddNode, NodeId: ids[1]})
	case "remove-node":
		return s.c.proposeConfChange(node.id, pb.ConfChange{ChangeType: pb.ConfChangeType_RemoveNode, NodeId: ids[1]})
	}
	return nil
}

func (s *scenarioRun) cluster(args []string) error {
	opts := map[string]int{"nodes": 3, "election": 10, "heartbeat": 1, "boot": 0, "seed": 1}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if _, known := opts[k]; !ok || !known {
			return fmt.Errorf("cluster: unknown option %q", a)
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("cluster: %s: %v", k, err)
		}
		opts[k] = n
	}
	s.c = newSimCluster(opts["nodes"], int64(opts["seed"]), opts["election"], opts["heartbeat"], uint64(opts["boot"]))
	s.c.trace = func(line string) { s.printf("%s", line) }
	for _, line := range strings.Split(strings.TrimRight(s.c.describeNodes(), "\n"), "\n") {
		s.printf("%s", line)
	}
	return nil
}

// deliver delivers the first N messages in flight, or those in flight from
// FROM to TO, or (no argument) every message in flight now.
func (s *scenarioRun) deliver(args []string, ids []uint64, err error) error {
	if err != nil || len(args) > 2 {
		return fmt.Errorf("usage: deliver [N | FROM TO]")
	}
	if len(args) == 2 {
		before := s.c.sent
		for i := 0; i < len(s.c.queue); {
			if m := s.c.queue[i]; m.seq < before && m.From == ids[0] && m.To == ids[1] {
				s.c.deliver(i)
				continue
			}
			i++
		}
		return nil
	}
	n := len(s.c.queue)
	if len(args) == 1 {
		n = int(ids[0])
	}
	for ; n > 0 && len(s.c.queue) > 0; n-- {
		s.c.deliver(0)
	}
	return nil
}

func (s *scenarioRun) drop(ids []uint64, err error) error {
	if err != nil || (len(ids) != 0 && len(ids) != 2) {
		return fmt.Errorf("usage: drop [FROM TO]")
	}
	kept := s.c.queue[:0]
	for _, m := range s.c.queue {
		if len(ids) == 0 || (m.From == ids[0] && m.To == ids[1]) {
			s.printf("dropped %s", describeMsg(m.Message))
			continue
		}
		kept = append(kept, m)
	}
	s.c.queue = kept
	return nil
}

func (s *scenarioRun) partition(args []string) error {
	left, right, ok := strings.Cut(strings.Join(args, " "), "|")
	if !ok {
		return fmt.Errorf("usage: partition A.. | B..")
	}
	a, err := scenarioIDs(strings.Fields(left))
	if err != nil {
		return err
	}
	b, err := scenarioIDs(strings.Fields(right))
	if err != nil {
		return err
	}
	s.c.partition(a, b)
	return nil
}

func (s *scenarioRun) tick(args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return fmt.Errorf("usage: tick ID|all [N]")
	}
	n := 1
	if len(args) == 2 {
		var err error
		if n, err = strconv.Atoi(args[1]); err != nil {
			return err
		}
	}
	for i := 0; i < n; i++ {
		if args[0] == "all" {
			s.c.tickAll()
			continue
		}
		id, err := strconv.ParseUint(args[0], 10, 64)
		if err != nil {
			return err
		}
		s.c.tick(id)
	}
	return nil
}

func (s *scenarioRun) log(n *simNode) {
	if !n.live() {
		s.printf("%d is down", n.id)
		return
	}
	l := n.rn.Raft.RaftLog
	snapIndex := labFirstIndex(l) - 1
	snapTerm, _ := l.Term(snapIndex)
	s.printf("%d: snapshot=%d/%d committed=%d applied=%d stabled=%d entries=%s",
		n.id, snapTerm, snapIndex, l.committed, l.applied, l.stabled, describeEntries(l.allEntries()))
}

func scenarioIDs(args []string) ([]uint64, error) {
	ids := make([]uint64, 0, len(args))
	for _, a := range args {
		id, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a node id", a)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// The scenarios drive the nodes through RawNode, so the stories of
// elections and replication (2AA, 2AB) run once RawNode (2AC) works.
func TestScenarios2AC(t *testing.T) { runScenarios(t, "2AC") }
func TestScenarios2C(t *testing.T)  { runScenarios(t, "2C") }
func TestScenarios3A(t *testing.T)  { runScenarios(t, "3A") }
