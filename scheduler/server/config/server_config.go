package config

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/tinykv-lab/tinykv/log"
)

// Defaults of the server settings.
const (
	DefaultName       = "scheduler"
	DefaultClientURLs = "http://127.0.0.1:2379"
	DefaultPeerURLs   = "http://127.0.0.1:2380"
	DefaultLease      = 3 // seconds
	DefaultLogLevel   = "info"
)

// Config is tinyscheduler-server's configuration: the etcd member it runs
// (names, URLs, data directory, initial cluster), the leader lease, logging,
// and the scheduling rules. The TOML names are PD's (and TinyKV's):
//
//	name = "scheduler1"
//	data-dir = "data/scheduler1"
//	client-urls = "http://127.0.0.1:2379"
//	peer-urls = "http://127.0.0.1:2380"
//	initial-cluster = "scheduler1=http://127.0.0.1:2380"
//	lease = 3
//	[log]
//	level = "info"
//	[schedule]
//	max-store-down-time = "30m"
//	store-disconnect-time = "20s"  # ours: PD has 20 s built in
//	[replication]
//	max-replicas = 3
//
// Command-line flags override the file.
type Config struct {
	Name                string `toml:"name"`
	DataDir             string `toml:"data-dir"`
	ClientUrls          string `toml:"client-urls"`
	PeerUrls            string `toml:"peer-urls"`
	AdvertiseClientUrls string `toml:"advertise-client-urls"`
	AdvertisePeerUrls   string `toml:"advertise-peer-urls"`
	// InitialCluster is name=peerURL,... of every first member; empty:
	// this member alone.
	InitialCluster string `toml:"initial-cluster"`
	// InitialClusterState is "new" (default) or "existing" (joining).
	InitialClusterState string `toml:"initial-cluster-state"`
	// LeaderLease is the leader's lease in seconds: a leader that dies is
	// replaced about this long after.
	LeaderLease int64 `toml:"lease"`
	// TSOSaveInterval is how far ahead the timestamp bound is saved.
	TSOSaveInterval Duration `toml:"tso-save-interval"`

	Log LogConfig `toml:"log"`

	Schedule    ScheduleConfig    `toml:"schedule"`
	Replication ReplicationConfig `toml:"replication"`
}

// LogConfig is the [log] section.
type LogConfig struct {
	Level string `toml:"level"`
}

// NewConfig returns the defaults.
func NewConfig() *Config {
	return &Config{
		Name:                DefaultName,
		ClientUrls:          DefaultClientURLs,
		PeerUrls:            DefaultPeerURLs,
		InitialClusterState: "new",
		LeaderLease:         DefaultLease,
		TSOSaveInterval:     Duration{3 * time.Second},
		Log:                 LogConfig{Level: DefaultLogLevel},
		Schedule:            NewDefaultScheduleConfig(),
		Replication:         NewDefaultReplicationConfig(),
	}
}

// LoadFile reads a TOML file over the settings it names. A key the file
// has but Config does not know is an error (a misspelt setting would
// otherwise be ignored silently).
func (c *Config) LoadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file %s: %v", path, err)
	}
	meta, err := toml.Decode(string(data), c)
	if err != nil {
		return fmt.Errorf("config file %s: %v", path, err)
	}
	if undecoded := meta.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, len(undecoded))
		for i, k := range undecoded {
			keys[i] = k.String()
		}
		return fmt.Errorf("config file %s: unknown setting(s) %s", path, strings.Join(keys, ", "))
	}
	return nil
}

// Adjust fills settings derived from others: advertised URLs default to the
// listened ones, the initial cluster to this member alone, the data
// directory to default.<name>.
func (c *Config) Adjust() {
	if c.AdvertiseClientUrls == "" {
		c.AdvertiseClientUrls = c.ClientUrls
	}
	if c.AdvertisePeerUrls == "" {
		c.AdvertisePeerUrls = c.PeerUrls
	}
	if c.InitialCluster == "" {
		urls := strings.Split(c.AdvertisePeerUrls, ",")
		parts := make([]string, len(urls))
		for i, u := range urls {
			parts[i] = c.Name + "=" + strings.TrimSpace(u)
		}
		c.InitialCluster = strings.Join(parts, ",")
	}
	if c.DataDir == "" {
		c.DataDir = "default." + c.Name
	}
}

// Validate checks every setting; the error names the one that is wrong.
func (c *Config) Validate() error {
	if c.Name == "" {
		return fmt.Errorf("name: must not be empty")
	}
	for _, f := range []struct{ name, value string }{
		{"client-urls", c.ClientUrls},
		{"peer-urls", c.PeerUrls},
		{"advertise-client-urls", c.AdvertiseClientUrls},
		{"advertise-peer-urls", c.AdvertisePeerUrls},
	} {
		if _, err := ParseURLs(f.value); err != nil {
			return fmt.Errorf("%s: %v", f.name, err)
		}
	}
	members, err := ParseInitialCluster(c.InitialCluster)
	if err != nil {
		return fmt.Errorf("initial-cluster: %v", err)
	}
	if _, ok := members[c.Name]; !ok {
		return fmt.Errorf("initial-cluster: %q does not name this member %q", c.InitialCluster, c.Name)
	}
	if c.InitialClusterState != "new" && c.InitialClusterState != "existing" {
		return fmt.Errorf("initial-cluster-state: %q: want new or existing", c.InitialClusterState)
	}
	if c.LeaderLease < 1 {
		return fmt.Errorf("lease: %d seconds: want at least 1", c.LeaderLease)
	}
	if c.TSOSaveInterval.Duration < 100*time.Millisecond {
		return fmt.Errorf("tso-save-interval: %v: want at least 100ms", c.TSOSaveInterval.Duration)
	}
	if _, err := log.ParseLevel(c.Log.Level); err != nil {
		return fmt.Errorf("log level (-L): %v", err)
	}
	if err := c.Schedule.Validate(); err != nil {
		return err
	}
	if err := c.Replication.Validate(); err != nil {
		return err
	}
	return nil
}

// ParseURLs parses a comma-separated list of http(s) URLs with a host and a
// port and nothing else.
func ParseURLs(s string) ([]url.URL, error) {
	var out []url.URL
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		u, err := url.Parse(part)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", part, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return nil, fmt.Errorf("%q: want an http:// or https:// URL", part)
		}
		if u.Port() == "" || u.Hostname() == "" {
			return nil, fmt.Errorf("%q: want host:port", part)
		}
		if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("%q: a URL of host:port only, no path or query", part)
		}
		out = append(out, *u)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no URL given")
	}
	return out, nil
}

// ParseInitialCluster parses name=peerURL,... into the URLs of each name.
func ParseInitialCluster(s string) (map[string][]url.URL, error) {
	out := map[string][]url.URL{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, u, ok := strings.Cut(part, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("%q: want name=peerURL", part)
		}
		urls, err := ParseURLs(u)
		if err != nil {
			return nil, fmt.Errorf("member %s: %v", name, err)
		}
		out[name] = append(out[name], urls...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no member given")
	}
	return out, nil
}
