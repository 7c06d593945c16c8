// {{name}}: counts file opens per command (@opens[comm]). Make it yours.
package main

import wt "wasmtrace.dev/sdk"

type plugin struct {
	opens *wt.Counter
}

func init() {
	wt.Register([]string{"file.open"}, func(wt.Config) (wt.Plugin, error) {
		return &plugin{opens: wt.NewCounter("opens", "comm")}, nil
	})
}

func (p *plugin) OnEvent(e *wt.Event) {
	if _, ok := e.Body.(*wt.FileOpen); ok {
		p.opens.Add(1, e.Header.Comm)
	}
}

// A c-shared module's main never runs: the host calls the plugin's exports.
func main() {}
