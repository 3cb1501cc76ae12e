package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is the browser the dashboard test drives: $CHROMIUM, else
// Debian's chromium on PATH; "" when there is none.
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// pageState is what the dashboard shows, read from its DOM.
type pageState struct {
	Stores []struct {
		ID    uint64 `json:"id"`
		State string `json:"state"`
		Text  string `json:"text"`
	} `json:"stores"`
	Regions []struct {
		ID     uint64 `json:"id"`
		Leader uint64 `json:"leader"`
		Text   string `json:"text"`
	} `json:"regions"`
	Status string   `json:"status"`
	Events []string `json:"events"`
}

const readPage = `({
  stores: [...document.querySelectorAll("#stores tbody tr[data-store]")].map(r =>
    ({id: +r.dataset.store, state: r.dataset.state, text: r.innerText})),
  regions: [...document.querySelectorAll("#strip .region")].map(r =>
    ({id: +r.dataset.region, leader: +r.dataset.leaderStore, text: r.innerText})),
  status: document.getElementById("status").textContent,
  events: [...document.querySelectorAll("#events li[data-kind]")].map(e => e.dataset.kind),
})`

// TestDashboardInBrowser opens the scheduler's dashboard in headless
// Chromium over a real cluster: the page must show every store and every
// region with its leader, then mark a killed store down. It saves a
// screenshot and prints its path.
func TestDashboardInBrowser(t *testing.T) {
	browser := chromiumPath()
	if browser == "" {
		t.Skip("no Chromium here (install Debian's chromium, or set CHROMIUM to a Chromium binary): the dashboard browser test is skipped; CI installs it and runs it")
	}
	start := time.Now()
	// Small regions, so that the key space shows several.
	oc := startObserved(t, 3, "-region-max-size", "24KiB", "-region-split-size", "12KiB")
	ids := oc.storeIDs()
	for i := 0; i < 300; i++ {
		oc.mustPut(fmt.Sprintf("dash-%03d", i), strings.Repeat("v", 200))
	}

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(browser), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1366, 900))
	defer cancelAlloc()
	var browserLog strings.Builder
	page, cancelPage := chromedp.NewContext(alloc, chromedp.WithErrorf(func(f string, a ...any) {
		fmt.Fprintf(&browserLog, f+"\n", a...)
	}))
	defer cancelPage()
	url := "http://" + oc.Scheduler.Addr + "/dashboard/"
	if err := chromedp.Do(page, chromedp.Navigate(url)); err != nil {
		t.Fatalf("open %s in %s: %v\n%s", url, browser, err, browserLog.String())
	}
	read := func() pageState {
		t.Helper()
		ctx, cancel := context.WithTimeout(page, 10*time.Second)
		defer cancel()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](readPage))
		if err != nil {
			t.Fatalf("read the dashboard: %v\n%s", err, browserLog.String())
		}
		return s
	}
	// waitFor polls the page until ok says it shows what is expected;
	// ok returns what is missing.
	waitFor := func(what string, timeout time.Duration, ok func(pageState) string) pageState {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			s := read()
			missing := ok(s)
			if missing == "" {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("the dashboard does not show %s within %v: %s\npage: %+v", what, timeout, missing, s)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}

	var want []uint64
	for _, id := range ids {
		want = append(want, id)
	}
	sort.Slice(want, func(i, j int) bool { return want[i] < want[j] })
	waitFor("every store up and every region (more than one) with its leader", 60*time.Second, func(s pageState) string {
		var got []uint64
		for _, st := range s.Stores {
			if st.State != "Up" || !strings.Contains(st.Text, "Up") {
				return fmt.Sprintf("store %d is %q (row %q), want Up", st.ID, st.State, st.Text)
			}
			got = append(got, st.ID)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Sprintf("stores %v, want %v", got, want)
		}
		regions, leaders, err := oc.sched.ScanRegions(ctx(t, 10*time.Second), nil, nil, 0)
		if err != nil {
			return err.Error()
		}
		if len(regions) < 2 {
			return fmt.Sprintf("%d regions: the puts have not split the key space yet", len(regions))
		}
		if len(regions) != len(s.Regions) {
			return fmt.Sprintf("%d regions shown, the scheduler has %d", len(s.Regions), len(regions))
		}
		for i, r := range regions {
			shown := s.Regions[i]
			leader := leaders[i].GetStoreId()
			if shown.ID != r.GetId() || shown.Leader != leader || leader == 0 {
				return fmt.Sprintf("region %d shown as region %d with leader on store %d; the scheduler has region %d led from store %d",
					i, shown.ID, shown.Leader, r.GetId(), leader)
			}
			if !strings.Contains(shown.Text, fmt.Sprintf("★s%d", leader)) {
				return fmt.Sprintf("region %d does not mark its leader ★s%d: %q", r.GetId(), leader, shown.Text)
			}
		}
		return ""
	})

	victim := oc.Stores[2]
	victimID := ids[victim.Name]
	victim.Kill()
	// The row follows the store's last heartbeat at once; the event comes
	// from the scheduler's watcher, a moment later.
	s := waitFor(fmt.Sprintf("store %d (%s, killed) down, row and event", victimID, victim.Name), 40*time.Second, func(s pageState) string {
		for _, st := range s.Stores {
			if st.ID == victimID {
				if st.State != "Disconnected" && st.State != "Down" || !strings.Contains(st.Text, "✖") {
					return fmt.Sprintf("store %d is %q (row %q)", st.ID, st.State, st.Text)
				}
				if !strings.Contains(strings.Join(s.Events, " "), "store-down") {
					return fmt.Sprintf("the events list shows %v, no store-down event", s.Events)
				}
				return ""
			}
		}
		return fmt.Sprintf("store %d is not shown", victimID)
	})

	shot, err := chromedp.Run(page, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := os.Getenv("TINYKV_SCREENSHOT")
	if path == "" {
		path = filepath.Join(os.TempDir(), "tinykv-dashboard.png")
	}
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatalf("save the screenshot: %v", err)
	}
	t.Logf("dashboard screenshot (store %d killed): %s", victimID, path)
	fmt.Fprintf(os.Stderr, "dashboard screenshot: %s\n", path)
	passed(t, start, "%d stores and %d regions shown with their leaders; store %d marked %s", len(want), len(s.Regions), victimID, "down")
}
