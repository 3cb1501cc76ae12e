package api

import (
	"embed"
	"io/fs"
	"net/http"
)

// The dashboard is one page with its script and styles inline, embedded
// in the binary: it needs nothing from the network but this API.
//
//go:embed dashboard
var dashboardFiles embed.FS

func dashboardHandler() http.Handler {
	sub, err := fs.Sub(dashboardFiles, "dashboard")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return http.StripPrefix("/dashboard/", http.FileServer(http.FS(sub)))
}
