// Package api is the scheduler's HTTP API on its client URL, under PD's
// paths so that PD habits work, and the dashboard that draws it:
//
//	GET /pd/api/v1/health            this member, the leader, the members
//	GET /pd/api/v1/stores            every store with its state and statistics
//	GET /pd/api/v1/store/{id}        one store
//	GET /pd/api/v1/regions           every region in key order
//	GET /pd/api/v1/region/id/{id}    one region
//	GET /pd/api/v1/region/key/{key}  the region holding key (path-escaped raw
//	                                 key; ?format=hex for a hex key)
//	GET /pd/api/v1/operators         running operators
//	GET /pd/api/v1/events?after=N    recent events after sequence N
//	GET /dashboard/                  the dashboard
//
// Answers are JSON. Only the leader knows the cluster: another member
// forwards the request to the leader once, and answers 503 with a JSON
// error naming itself when no leader is known. Failed requests answer
// {"error": "..."} with 400 (bad input), 404 (no such store or region) or
// 503 (not leader, not bootstrapped).
package api

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/scheduler/server"
	"github.com/tinykv-lab/tinykv/scheduler/server/core"
	"github.com/tinykv-lab/tinykv/scheduler/server/observe"
	"github.com/tinykv-lab/tinykv/scheduler/server/schedule"
)

// Prefix is the path under which the API answers.
const Prefix = "/pd/api/v1/"

// forwardedHeader marks a request one member forwarded to the leader: the
// leader answers it itself or says it is not the leader, never forwards it
// again.
const forwardedHeader = "X-Tinyscheduler-Forwarded-From"

type handler struct {
	srv *server.Server
	w   *watcher
	mux *http.ServeMux
}

// Handlers returns the API and dashboard handlers of srv, to give to
// srv.SetHTTPHandlers before srv.Run. It starts watching the cluster for
// events until the server stops, and adds the cluster's gauges (stores and
// regions by state) to the default Prometheus registry.
func Handlers(srv *server.Server) map[string]http.Handler {
	h := &handler{srv: srv, w: newWatcher(srv), mux: http.NewServeMux()}
	h.mux.HandleFunc("GET "+Prefix+"health", h.health)
	h.mux.HandleFunc("GET "+Prefix+"stores", h.leaderOnly(h.stores))
	h.mux.HandleFunc("GET "+Prefix+"store/{id}", h.leaderOnly(h.store))
	h.mux.HandleFunc("GET "+Prefix+"regions", h.leaderOnly(h.regions))
	h.mux.HandleFunc("GET "+Prefix+"region/id/{id}", h.leaderOnly(h.regionByID))
	h.mux.HandleFunc("GET "+Prefix+"region/key/{key...}", h.leaderOnly(h.regionByKey))
	h.mux.HandleFunc("GET "+Prefix+"operators", h.leaderOnly(h.operators))
	h.mux.HandleFunc("GET "+Prefix+"events", h.leaderOnly(h.events))
	h.mux.HandleFunc(Prefix, func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("%s %s: no such API (see %shealth, stores, regions, operators)", r.Method, r.URL.Path, Prefix))
	})
	addWatcher(h.w)
	go func() {
		h.w.run(srv.Done())
		removeWatcher(h.w)
	}()
	return map[string]http.Handler{
		Prefix:        h.mux,
		"/dashboard":  http.RedirectHandler("/dashboard/", http.StatusMovedPermanently),
		"/dashboard/": dashboardHandler(),
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		log.Debugf("[api] write answer: %v", err)
	}
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, Error{Error: msg})
}

// leaderOnly answers with next on the leader of a bootstrapped cluster,
// forwards to the leader from another member, and says why not otherwise.
func (h *handler) leaderOnly(next func(http.ResponseWriter, *http.Request, *server.RaftCluster)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := h.srv.Name()
		if !h.srv.Ready() {
			writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("scheduler %s is starting", name))
			return
		}
		if h.srv.IsLeader() {
			c := h.srv.GetRaftCluster()
			if c == nil {
				writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("scheduler %s: cluster %d is not bootstrapped (no store has joined yet)", name, h.srv.ClusterID()))
				return
			}
			next(w, r, c)
			return
		}
		if from := r.Header.Get(forwardedHeader); from != "" {
			writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("scheduler %s is not the leader (request forwarded by %s)", name, from))
			return
		}
		leader, err := h.srv.LeaderMember(r.Context())
		if err != nil || leader == nil || len(leader.GetClientUrls()) == 0 || leader.GetMemberId() == h.srv.Member().GetMemberId() {
			msg := fmt.Sprintf("scheduler %s is not the leader and no leader is known", name)
			if err != nil {
				msg += ": " + err.Error()
			}
			writeError(w, http.StatusServiceUnavailable, msg)
			return
		}
		target, err := url.Parse(leader.GetClientUrls()[0])
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("scheduler %s is not the leader; leader %s has a bad client URL %q", name, leader.GetName(), leader.GetClientUrls()[0]))
			return
		}
		proxy := &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(target)
				pr.Out.Header.Set(forwardedHeader, name)
			},
			ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
				writeError(w, http.StatusBadGateway, fmt.Sprintf("scheduler %s is not the leader; forwarding to leader %s at %s failed: %v", name, leader.GetName(), target, err))
			},
		}
		w.Header().Set("X-Tinyscheduler-Leader", leader.GetName())
		proxy.ServeHTTP(w, r)
	}
}

func (h *handler) health(w http.ResponseWriter, r *http.Request) {
	out := Health{Name: h.srv.Name()}
	if !h.srv.Ready() {
		out.Error = "starting"
		writeJSON(w, http.StatusServiceUnavailable, out)
		return
	}
	out.ClusterID = h.srv.ClusterID()
	out.IsLeader = h.srv.IsLeader()
	out.Bootstrapped = h.srv.GetRaftCluster() != nil
	for _, m := range h.srv.Members() {
		out.Members = append(out.Members, memberOf(m))
	}
	leader, err := h.srv.LeaderMember(r.Context())
	switch {
	case err != nil:
		out.Error = err.Error()
	case leader == nil:
		out.Error = "no leader"
	default:
		m := memberOf(leader)
		out.Leader = &m
		out.Healthy = true
	}
	code := http.StatusOK
	if !out.Healthy {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, out)
}

func (h *handler) storeOf(c *server.RaftCluster, s *core.StoreInfo, now time.Time) Store {
	stats := s.GetStoreStats()
	out := Store{
		Store: StoreMeta{ID: s.GetID(), Address: s.GetAddress(), State: s.GetState().String(),
			StateName: schedule.StoreStateName(c, s)},
		Status: StoreStatus{
			Capacity:           stats.GetCapacity(),
			Available:          stats.GetAvailable(),
			UsedSize:           stats.GetUsedSize(),
			LeaderCount:        s.GetLeaderCount(),
			RegionCount:        s.GetRegionCount(),
			LeaderSize:         s.GetLeaderSize(),
			RegionSize:         s.GetRegionSize(),
			PendingPeerCount:   s.GetPendingPeerCount(),
			SendingSnapCount:   stats.GetSendingSnapCount(),
			ReceivingSnapCount: stats.GetReceivingSnapCount(),
			ApplyingSnapCount:  stats.GetApplyingSnapCount(),
			IsBusy:             stats.GetIsBusy(),
			LastHeartbeatTS:    s.GetLastHeartbeatTS(),
			SinceHeartbeat:     now.Sub(s.GetLastHeartbeatTS()).Seconds(),
		},
	}
	if st := stats.GetStartTime(); st != 0 {
		out.Status.StartTS = time.Unix(int64(st), 0)
	}
	return out
}

func (h *handler) stores(w http.ResponseWriter, r *http.Request, c *server.RaftCluster) {
	now := time.Now()
	list := c.GetStores()
	sort.Slice(list, func(i, j int) bool { return list[i].GetID() < list[j].GetID() })
	out := Stores{Count: len(list), Stores: make([]Store, 0, len(list))}
	for _, s := range list {
		out.Stores = append(out.Stores, h.storeOf(c, s, now))
	}
	writeJSON(w, http.StatusOK, out)
}

func parseID(w http.ResponseWriter, r *http.Request, what string) (uint64, bool) {
	raw := r.PathValue("id")
	id, err := strconv.ParseUint(raw, 10, 64)
	if err != nil || id == 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("%s id %q is not a positive integer", what, raw))
		return 0, false
	}
	return id, true
}

func (h *handler) store(w http.ResponseWriter, r *http.Request, c *server.RaftCluster) {
	id, ok := parseID(w, r, "store")
	if !ok {
		return
	}
	s := c.GetStore(id)
	if s == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("store %d not found", id))
		return
	}
	writeJSON(w, http.StatusOK, h.storeOf(c, s, time.Now()))
}

// runningOperators maps region id to its running operator.
func runningOperators(c *server.RaftCluster) map[uint64]*schedule.Operator {
	out := map[uint64]*schedule.Operator{}
	if oc := c.GetOperatorController(); oc != nil {
		for _, op := range oc.GetOperators() {
			out[op.RegionID()] = op
		}
	}
	return out
}

func (h *handler) regions(w http.ResponseWriter, r *http.Request, c *server.RaftCluster) {
	list := c.ScanRange(nil, nil, 0)
	ops := runningOperators(c)
	out := Regions{Count: len(list), Regions: make([]Region, 0, len(list))}
	for _, reg := range list {
		out.Regions = append(out.Regions, regionOf(reg, ops))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) regionByID(w http.ResponseWriter, r *http.Request, c *server.RaftCluster) {
	id, ok := parseID(w, r, "region")
	if !ok {
		return
	}
	reg := c.GetRegion(id)
	if reg == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("region %d not found", id))
		return
	}
	writeJSON(w, http.StatusOK, regionOf(reg, runningOperators(c)))
}

func (h *handler) regionByKey(w http.ResponseWriter, r *http.Request, c *server.RaftCluster) {
	raw := r.PathValue("key")
	key := []byte(raw)
	if f := r.URL.Query().Get("format"); f == "hex" {
		k, err := hex.DecodeString(raw)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("key %q is not hex: %v", raw, err))
			return
		}
		key = k
	} else if f != "" && f != "raw" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("format %q: want raw or hex", f))
		return
	}
	reg := c.SearchRegion(key)
	if reg == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no region holds key %q (a split may be under way)", key))
		return
	}
	writeJSON(w, http.StatusOK, regionOf(reg, runningOperators(c)))
}

func (h *handler) operators(w http.ResponseWriter, r *http.Request, c *server.RaftCluster) {
	ops := runningOperators(c)
	out := Operators{Count: len(ops), Operators: make([]Operator, 0, len(ops))}
	for _, op := range ops {
		out.Operators = append(out.Operators, operatorOf(op))
	}
	sort.Slice(out.Operators, func(i, j int) bool { return out.Operators[i].RegionID < out.Operators[j].RegionID })
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) events(w http.ResponseWriter, r *http.Request, _ *server.RaftCluster) {
	var after uint64
	if raw := r.URL.Query().Get("after"); raw != "" {
		n, err := strconv.ParseUint(raw, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("after %q is not a sequence number", raw))
			return
		}
		after = n
	}
	writeJSON(w, http.StatusOK, struct {
		Events []observe.Event `json:"events"`
	}{observe.Events(after)})
}

// The cluster's gauges are computed when scraped, from the leader among
// the members of this process (one in a real deployment).
var (
	watchersMu sync.Mutex
	watchers   []*watcher
	gaugesOnce sync.Once
	storesDesc = prometheus.NewDesc("tinyscheduler_stores", "Stores by state as the scheduler judges it (Up, Disconnected, Down, Offline, Tombstone).", []string{"state"}, nil)
	regionDesc = prometheus.NewDesc("tinyscheduler_regions", "Regions in the cache: all, and those with no known leader, pending peers, down peers, fewer peers than max-replicas.", []string{"state"}, nil)
	leaderDesc = prometheus.NewDesc("tinyscheduler_is_leader", "1 when this member leads the scheduler's cluster.", nil, nil)
)

func addWatcher(w *watcher) {
	gaugesOnce.Do(func() { prometheus.MustRegister(clusterCollector{}) })
	watchersMu.Lock()
	defer watchersMu.Unlock()
	watchers = append(watchers, w)
}

func removeWatcher(w *watcher) {
	watchersMu.Lock()
	defer watchersMu.Unlock()
	for i, x := range watchers {
		if x == w {
			watchers = append(watchers[:i], watchers[i+1:]...)
			return
		}
	}
}

type clusterCollector struct{}

func (clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- storesDesc
	ch <- regionDesc
	ch <- leaderDesc
}

func (clusterCollector) Collect(ch chan<- prometheus.Metric) {
	watchersMu.Lock()
	list := append([]*watcher(nil), watchers...)
	watchersMu.Unlock()
	var c *server.RaftCluster
	for _, x := range list {
		if c = x.srv.GetRaftCluster(); c != nil {
			break
		}
	}
	leading := 0.0
	if c != nil {
		leading = 1
	}
	ch <- prometheus.MustNewConstMetric(leaderDesc, prometheus.GaugeValue, leading)
	if c == nil {
		return
	}
	states := map[string]int{"Up": 0, "Disconnected": 0, "Down": 0, "Offline": 0, "Tombstone": 0}
	for _, s := range c.GetStores() {
		states[schedule.StoreStateName(c, s)]++
	}
	for state, n := range states {
		ch <- prometheus.MustNewConstMetric(storesDesc, prometheus.GaugeValue, float64(n), strings.ToLower(state))
	}
	regions := map[string]int{"all": 0, "no_leader": 0, "pending_peers": 0, "down_peers": 0, "miss_peer": 0}
	replicas := c.GetMaxReplicas()
	for _, r := range c.GetRegions() {
		regions["all"]++
		if r.GetLeader().GetId() == 0 {
			regions["no_leader"]++
		}
		if len(r.GetPendingPeers()) > 0 {
			regions["pending_peers"]++
		}
		if len(r.GetDownPeers()) > 0 {
			regions["down_peers"]++
		}
		if len(r.GetPeers()) < replicas {
			regions["miss_peer"]++
		}
	}
	for state, n := range regions {
		ch <- prometheus.MustNewConstMetric(regionDesc, prometheus.GaugeValue, float64(n), state)
	}
}
