package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tinykv-lab/tinykv/kv/client"
	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
)

// Exit codes of tinykv-ctl.
const (
	exitOK       = 0
	exitFailure  = 1 // the cluster could not do it (unreachable, refused, timed out)
	exitUsage    = 2 // bad command line
	exitNotFound = 3 // get of a key without a value
)

// Admin is what tinykv-ctl needs of the scheduler beyond what the client
// library needs.
type Admin interface {
	client.Scheduler
	GetAllStores(ctx context.Context, excludeTombstones bool) ([]*metapb.Store, error)
	ScanRegions(ctx context.Context, start, end []byte, limit int) ([]*metapb.Region, []*metapb.Peer, error)
	GetOperator(ctx context.Context, regionID uint64) (*schedulerpb.GetOperatorResponse, error)
	Close()
}

// connectFunc connects to the scheduler at addr.
type connectFunc func(ctx context.Context, addr string) (Admin, error)

const usage = `Usage: tinykv-ctl [flags] COMMAND [ARGS]

Reads and writes a TinyKV cluster and shows its state. Keys and values are
taken as given (bytes of the argument); output quotes them when they are
not printable.

Raw commands (the raw API, default column family; not transactional):
  get KEY                      print KEY's value (exit 3 when it has none)
  put KEY VALUE                write KEY
  delete KEY                   delete KEY (deleting a missing key succeeds)
  scan [-limit N] START [END]  print up to N pairs (default 100) of [START, END),
                               across regions; an empty END ("") is the end

Transactional commands (Percolator, timestamps from the scheduler):
  txn get [-ts TS] KEY         read KEY at TS (default: a new timestamp)
  txn put KEY VALUE [KEY VALUE ...]
                               write the pairs in one transaction
  txn delete KEY [KEY ...]     delete the keys in one transaction
  txn scan [-limit N] [-ts TS] START [END]
                               read a snapshot of [START, END)

Cluster state (from the scheduler):
  tso                          print a new timestamp (and its physical time)
  stores                       list the stores: id, address, state
  regions [-size=false]        list the regions: id, key range, peers, leader,
                               epoch, and size (the bytes of keys and values,
                               read from the region's leader; -size=false skips it)
  region KEY                   show the region holding KEY
  operator REGION              show the scheduler's operator for region id REGION

Flags (before the command):
`

// env is one run of tinykv-ctl.
type env struct {
	out, errOut io.Writer
	ctx         context.Context
	admin       Admin
	kv          *client.Client
	json        bool
}

func run(args []string, stdout, stderr io.Writer, connect connectFunc) int {
	fs := flag.NewFlagSet("tinykv-ctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	schedAddr := fs.String("scheduler", "127.0.0.1:2379", "scheduler address, host:port")
	timeout := fs.Duration("timeout", 20*time.Second, "give up on a command after this long")
	asJSON := fs.Bool("json", false, "print results as JSON (stores, regions, region, operator, tso, scan)")
	printUsage := func(w io.Writer) {
		fmt.Fprint(w, usage)
		fs.SetOutput(w)
		fs.PrintDefaults()
		fmt.Fprintf(w, "\nExit codes: 0 done, 1 the cluster could not do it, 2 bad command line, 3 key not found.\n")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "tinykv-ctl: %v\nRun 'tinykv-ctl -h' for the commands.\n", err)
		return exitUsage
	}
	if fs.NArg() == 0 {
		printUsage(stderr)
		return exitUsage
	}
	cmd, cmdArgs := fs.Arg(0), fs.Args()[1:]
	if cmd == "help" {
		printUsage(stdout)
		return exitOK
	}
	handler, ok := commands[cmd]
	if !ok {
		fmt.Fprintf(stderr, "tinykv-ctl: unknown command %q\nRun 'tinykv-ctl -h' for the commands.\n", cmd)
		return exitUsage
	}
	// Check the arguments before connecting: a typo should not wait for a
	// scheduler.
	if err := handler(nil, cmdArgs); err != nil {
		var u usageError
		if errors.As(err, &u) {
			fmt.Fprintf(stderr, "tinykv-ctl %s: %v\nRun 'tinykv-ctl -h' for the commands.\n", cmd, err)
			return exitUsage
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	addr := strings.TrimPrefix(strings.TrimPrefix(*schedAddr, "http://"), "https://")
	admin, err := connect(ctx, addr)
	if err != nil {
		fmt.Fprintf(stderr, "tinykv-ctl: cannot reach the scheduler at %s: %v\n", addr, err)
		return exitFailure
	}
	defer admin.Close()
	kv := client.New(admin, client.Options{Timeout: *timeout})
	defer kv.Close()
	e := &env{out: stdout, errOut: stderr, ctx: ctx, admin: admin, kv: kv, json: *asJSON}
	if err := handler(e, cmdArgs); err != nil {
		if errors.Is(err, client.ErrNotFound) {
			fmt.Fprintf(stderr, "tinykv-ctl %s: %v\n", cmd, err)
			return exitNotFound
		}
		fmt.Fprintf(stderr, "tinykv-ctl %s: %v\n", cmd, err)
		return exitFailure
	}
	return exitOK
}

// usageError is a bad command line.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, args ...interface{}) error {
	return usageError{fmt.Sprintf(format, args...)}
}

// A command checks its arguments and, when e is not nil, runs.
type command func(e *env, args []string) error

var commands map[string]command

func init() {
	commands = map[string]command{
		"get": cmdGet, "put": cmdPut, "delete": cmdDelete, "scan": cmdScan,
		"txn": cmdTxn, "tso": cmdTSO, "stores": cmdStores, "regions": cmdRegions,
		"region": cmdRegion, "operator": cmdOperator,
	}
}

func wantArgs(args []string, n int, names string) error {
	if len(args) != n {
		return usagef("want %s, got %d argument(s)", names, len(args))
	}
	return nil
}

func cmdGet(e *env, args []string) error {
	if err := wantArgs(args, 1, "KEY"); err != nil || e == nil {
		return err
	}
	value, err := e.kv.Get(e.ctx, []byte(args[0]))
	if err != nil {
		return err
	}
	fmt.Fprintln(e.out, show(value))
	return nil
}

func cmdPut(e *env, args []string) error {
	if err := wantArgs(args, 2, "KEY VALUE"); err != nil || e == nil {
		return err
	}
	return e.kv.Put(e.ctx, []byte(args[0]), []byte(args[1]))
}

func cmdDelete(e *env, args []string) error {
	if err := wantArgs(args, 1, "KEY"); err != nil || e == nil {
		return err
	}
	return e.kv.Delete(e.ctx, []byte(args[0]))
}

// scanFlags parses [-limit N] [-ts TS] START [END].
func scanFlags(name string, args []string, withTS bool) (start, end []byte, limit int, ts uint64, err error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.IntVar(&limit, "limit", 100, "")
	if withTS {
		fs.Uint64Var(&ts, "ts", 0, "")
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, 0, 0, usagef("%v", err)
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		return nil, nil, 0, 0, usagef("want START [END], got %d argument(s)", fs.NArg())
	}
	if limit <= 0 {
		return nil, nil, 0, 0, usagef("-limit must be positive, got %d", limit)
	}
	start = []byte(fs.Arg(0))
	if fs.NArg() == 2 {
		end = []byte(fs.Arg(1))
	}
	return start, end, limit, ts, nil
}

func cmdScan(e *env, args []string) error {
	start, end, limit, _, err := scanFlags("scan", args, false)
	if err != nil || e == nil {
		return err
	}
	pairs, err := e.kv.Scan(e.ctx, start, end, limit)
	if err != nil {
		return err
	}
	return e.printPairs(pairs)
}

func (e *env) printPairs(pairs []client.KvPair) error {
	if e.json {
		type pair struct {
			Key   string `json:"key"`
			Value string `json:"value"`
		}
		out := make([]pair, len(pairs))
		for i, p := range pairs {
			out[i] = pair{string(p.Key), string(p.Value)}
		}
		return e.printJSON(out)
	}
	for _, p := range pairs {
		fmt.Fprintf(e.out, "%s\t%s\n", show(p.Key), show(p.Value))
	}
	return nil
}

func cmdTxn(e *env, args []string) error {
	if len(args) == 0 {
		return usagef("want get, put, delete or scan after txn")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "get":
		fs := flag.NewFlagSet("txn get", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		ts := fs.Uint64("ts", 0, "")
		if err := fs.Parse(args); err != nil {
			return usagef("%v", err)
		}
		if err := wantArgs(fs.Args(), 1, "KEY"); err != nil || e == nil {
			return err
		}
		readTS, err := e.readTS(*ts)
		if err != nil {
			return err
		}
		value, err := e.kv.TxnGet(e.ctx, []byte(fs.Arg(0)), readTS)
		if err != nil {
			return err
		}
		if value == nil {
			return fmt.Errorf("%w at ts %d", client.ErrNotFound, readTS)
		}
		fmt.Fprintln(e.out, show(value))
		return nil
	case "put":
		if len(args) == 0 || len(args)%2 != 0 {
			return usagef("want KEY VALUE [KEY VALUE ...], got %d argument(s)", len(args))
		}
		if e == nil {
			return nil
		}
		return e.commit(func(txn *client.Txn) {
			for i := 0; i < len(args); i += 2 {
				txn.Set([]byte(args[i]), []byte(args[i+1]))
			}
		})
	case "delete":
		if len(args) == 0 {
			return usagef("want KEY [KEY ...]")
		}
		if e == nil {
			return nil
		}
		return e.commit(func(txn *client.Txn) {
			for _, k := range args {
				txn.Delete([]byte(k))
			}
		})
	case "scan":
		start, end, limit, ts, err := scanFlags("txn scan", args, true)
		if err != nil || e == nil {
			return err
		}
		readTS, err := e.readTS(ts)
		if err != nil {
			return err
		}
		pairs, err := e.kv.TxnScan(e.ctx, start, end, limit, readTS)
		if err != nil {
			return err
		}
		return e.printPairs(pairs)
	}
	return usagef("unknown txn command %q (want get, put, delete or scan)", sub)
}

// readTS is ts, or a new timestamp when ts is 0.
func (e *env) readTS(ts uint64) (uint64, error) {
	if ts != 0 {
		return ts, nil
	}
	return e.kv.Timestamp(e.ctx)
}

// commit runs one transaction and prints its timestamps.
func (e *env) commit(write func(txn *client.Txn)) error {
	txn, err := e.kv.Begin(e.ctx)
	if err != nil {
		return err
	}
	write(txn)
	commitTS, err := txn.Commit(e.ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.out, "committed: start ts %d, commit ts %d\n", txn.StartTS, commitTS)
	return nil
}

func cmdTSO(e *env, args []string) error {
	if err := wantArgs(args, 0, "no arguments"); err != nil || e == nil {
		return err
	}
	ts, err := e.kv.Timestamp(e.ctx)
	if err != nil {
		return err
	}
	physical := time.UnixMilli(int64(ts >> 18)).UTC()
	if e.json {
		return e.printJSON(map[string]interface{}{"ts": ts, "physical": physical.Format(time.RFC3339Nano), "logical": ts & (1<<18 - 1)})
	}
	fmt.Fprintf(e.out, "%d (physical %s, logical %d)\n", ts, physical.Format("2006-01-02 15:04:05.000 MST"), ts&(1<<18-1))
	return nil
}

func cmdStores(e *env, args []string) error {
	if err := wantArgs(args, 0, "no arguments"); err != nil || e == nil {
		return err
	}
	stores, err := e.admin.GetAllStores(e.ctx, false)
	if err != nil {
		return err
	}
	sort.Slice(stores, func(i, j int) bool { return stores[i].Id < stores[j].Id })
	if e.json {
		type store struct {
			ID      uint64 `json:"id"`
			Address string `json:"address"`
			State   string `json:"state"`
		}
		out := make([]store, len(stores))
		for i, s := range stores {
			out[i] = store{s.Id, s.Address, s.State.String()}
		}
		return e.printJSON(out)
	}
	w := tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tADDRESS\tSTATE")
	for _, s := range stores {
		fmt.Fprintf(w, "%d\t%s\t%s\n", s.Id, s.Address, s.State)
	}
	return w.Flush()
}

// regionRow is one region as tinykv-ctl shows it.
type regionRow struct {
	ID       uint64   `json:"id"`
	StartKey string   `json:"start_key"`
	EndKey   string   `json:"end_key"`
	Peers    []string `json:"peers"` // "peer@store"
	Leader   string   `json:"leader"`
	ConfVer  uint64   `json:"conf_ver"`
	Version  uint64   `json:"version"`
	Size     *uint64  `json:"size,omitempty"` // bytes of default-CF keys and values
	SizeNote string   `json:"size_note,omitempty"`
}

// maxSizeScan bounds the bytes read from one region to show its size.
const maxSizeScan = 64 << 20

func (e *env) regionRow(region *metapb.Region, leader *metapb.Peer, withSize bool) regionRow {
	row := regionRow{ID: region.Id, StartKey: string(region.StartKey), EndKey: string(region.EndKey),
		ConfVer: region.GetRegionEpoch().GetConfVer(), Version: region.GetRegionEpoch().GetVersion()}
	for _, p := range region.Peers {
		row.Peers = append(row.Peers, fmt.Sprintf("%d@%d", p.Id, p.StoreId))
	}
	if leader.GetId() != 0 {
		row.Leader = fmt.Sprintf("%d@%d", leader.Id, leader.StoreId)
	}
	if withSize {
		size, complete, err := e.regionSize(region)
		switch {
		case err != nil:
			row.SizeNote = "unknown: " + err.Error()
		case !complete:
			row.Size, row.SizeNote = &size, "at least"
		default:
			row.Size = &size
		}
	}
	return row
}

// regionSize adds up the keys and values of the region's default column
// family (what the split checker weighs), reading at most maxSizeScan.
func (e *env) regionSize(region *metapb.Region) (size uint64, complete bool, err error) {
	start := region.StartKey
	for size < maxSizeScan {
		pairs, err := e.kv.Scan(e.ctx, start, region.EndKey, 1024)
		if err != nil {
			return 0, false, err
		}
		for _, p := range pairs {
			size += uint64(len(p.Key) + len(p.Value))
		}
		if len(pairs) < 1024 {
			return size, true, nil
		}
		start = append(append([]byte{}, pairs[len(pairs)-1].Key...), 0)
	}
	return size, false, nil
}

func cmdRegions(e *env, args []string) error {
	fs := flag.NewFlagSet("regions", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	withSize := fs.Bool("size", true, "")
	if err := fs.Parse(args); err != nil {
		return usagef("%v", err)
	}
	if err := wantArgs(fs.Args(), 0, "no arguments besides -size"); err != nil || e == nil {
		return err
	}
	var rows []regionRow
	var start []byte
	for {
		regions, leaders, err := e.admin.ScanRegions(e.ctx, start, nil, 1000)
		if err != nil {
			return err
		}
		for i, r := range regions {
			var leader *metapb.Peer
			if i < len(leaders) {
				leader = leaders[i]
			}
			rows = append(rows, e.regionRow(r, leader, *withSize))
		}
		if len(regions) == 0 || len(regions[len(regions)-1].EndKey) == 0 {
			break
		}
		next := regions[len(regions)-1].EndKey
		if bytes.Compare(next, start) <= 0 {
			break
		}
		start = next
	}
	return e.printRegions(rows)
}

func cmdRegion(e *env, args []string) error {
	if err := wantArgs(args, 1, "KEY"); err != nil || e == nil {
		return err
	}
	region, leader, err := e.admin.GetRegion(e.ctx, []byte(args[0]))
	if err != nil {
		return err
	}
	if region == nil || region.Id == 0 {
		return fmt.Errorf("the scheduler knows no region holding key %s (yet: right after a split that is normal)", show([]byte(args[0])))
	}
	return e.printRegions([]regionRow{e.regionRow(region, leader, true)})
}

func (e *env) printRegions(rows []regionRow) error {
	if e.json {
		return e.printJSON(rows)
	}
	w := tabwriter.NewWriter(e.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tSTART\tEND\tPEERS (peer@store)\tLEADER\tEPOCH (conf_ver/version)\tSIZE")
	for _, r := range rows {
		start, end := "-inf", "+inf"
		if r.StartKey != "" {
			start = show([]byte(r.StartKey))
		}
		if r.EndKey != "" {
			end = show([]byte(r.EndKey))
		}
		leader := r.Leader
		if leader == "" {
			leader = "unknown"
		}
		size := "-"
		if r.Size != nil {
			size = config.FormatSize(*r.Size)
			if *r.Size >= 10*config.KB {
				size = fmt.Sprintf("%.1fKiB", float64(*r.Size)/1024)
			}
			if *r.Size >= 10*config.MB {
				size = fmt.Sprintf("%.1fMiB", float64(*r.Size)/(1024*1024))
			}
			if r.SizeNote != "" {
				size = ">=" + size
			}
		} else if r.SizeNote != "" {
			size = "?"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%d/%d\t%s\n", r.ID, start, end, strings.Join(r.Peers, ","), leader, r.ConfVer, r.Version, size)
	}
	return w.Flush()
}

func cmdOperator(e *env, args []string) error {
	if err := wantArgs(args, 1, "REGION (a region id)"); err != nil {
		return err
	}
	id, err := strconv.ParseUint(args[0], 10, 64)
	if err != nil || id == 0 {
		return usagef("region id %q is not a positive number", args[0])
	}
	if e == nil {
		return nil
	}
	resp, err := e.admin.GetOperator(e.ctx, id)
	if err != nil {
		return err
	}
	if resp.GetHeader().GetError() != nil {
		return fmt.Errorf("region %d: %s", id, resp.Header.Error.Message)
	}
	if e.json {
		return e.printJSON(map[string]interface{}{"region_id": resp.RegionId, "desc": string(resp.Desc), "kind": string(resp.Kind), "status": resp.Status.String()})
	}
	if len(resp.Desc) == 0 {
		fmt.Fprintf(e.out, "region %d: no operator\n", id)
		return nil
	}
	fmt.Fprintf(e.out, "region %d: %s (kind %s, status %s)\n", resp.RegionId, resp.Desc, resp.Kind, resp.Status)
	return nil
}

func (e *env) printJSON(v interface{}) error {
	enc := json.NewEncoder(e.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// show prints bytes as they are when they are printable text, quoted
// otherwise.
func show(b []byte) string {
	if !utf8.Valid(b) {
		return strconv.Quote(string(b))
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) || r == '\t' {
			return strconv.Quote(string(b))
		}
	}
	return string(b)
}
