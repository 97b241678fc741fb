package dashboard

import (
	"bytes"
	"html"
	"net/http"
	"strconv"
)

// The pages are written by Go code through a small writer that escapes
// every text and attribute value, not by html/template: text/template's
// method calls by name make the linker keep every exported method of every
// type in the binary, which made kubectl-canary 14 MB (a third) larger;
// this writer adds about 1 MB with the rest of the dashboard. Attribute
// values are always double-quoted and escaped; the only URLs written are
// the dashboard's own paths, built by canaryURL.

// hw writes HTML.
type hw struct{ b bytes.Buffer }

// open writes a start tag; attrs are name, value pairs, and a pair whose
// value is "\x00" is left out (an attribute that does not apply).
func (h *hw) open(tag string, attrs ...string) {
	h.b.WriteByte('<')
	h.b.WriteString(tag)
	for i := 0; i+1 < len(attrs); i += 2 {
		if attrs[i+1] == omit {
			continue
		}
		h.b.WriteByte(' ')
		h.b.WriteString(attrs[i])
		h.b.WriteString(`="`)
		h.b.WriteString(html.EscapeString(attrs[i+1]))
		h.b.WriteByte('"')
	}
	h.b.WriteByte('>')
}

// omit marks an attribute to leave out.
const omit = "\x00"

func (h *hw) close(tag string) { h.b.WriteString("</" + tag + ">") }

// text writes escaped text.
func (h *hw) text(s string) { h.b.WriteString(html.EscapeString(s)) }

// el writes an element holding text.
func (h *hw) el(tag, text string, attrs ...string) {
	h.open(tag, attrs...)
	h.text(text)
	h.close(tag)
}

// void writes an element without content (SVG shapes).
func (h *hw) void(tag string, attrs ...string) {
	h.open(tag, attrs...)
	h.close(tag)
}

// raw writes markup that is constant in this package.
func (h *hw) raw(s string) { h.b.WriteString(s) }

func when(cond bool, v string) string {
	if cond {
		return v
	}
	return omit
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// pageData is what the layout shows around a page's content.
type pageData struct {
	Title string
	// Live is the URL of the page's server-sent events; empty for a page
	// that does not update.
	Live string
}

// page writes a whole page around its content.
func (s *Server) page(w http.ResponseWriter, status int, p pageData, content func(*hw)) {
	h := &hw{}
	h.raw("<!DOCTYPE html>\n")
	h.open("html", "lang", "en")
	h.raw("<head>")
	h.raw(`<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">`)
	h.open("meta", "name", "warbler-token", "content", s.token)
	h.el("title", p.Title+" · Warbler")
	h.raw(`<link rel="stylesheet" href="/static/dashboard.css"><script src="/static/dashboard.js" defer></script></head>`)
	h.raw("<body>\n<header>")
	h.el("a", "Warbler canaries", "class", "brand", "href", "/")
	if p.Live != "" {
		h.el("span", "connecting…", "id", "live-state", "class", "live-state", "title", "updates pushed by a watch")
	}
	h.raw("</header>\n")
	h.raw(`<div id="action-result" class="action-result" role="status" hidden></div>` + "\n")
	h.open("main", "id", "live", "data-live", when(p.Live != "", p.Live))
	content(h)
	h.raw("</main>\n")
	h.raw(`<dialog id="confirm"><form method="dialog"><p id="confirm-text"></p><menu>` +
		`<button value="cancel" id="confirm-cancel">Cancel</button><button value="ok" id="confirm-ok" class="danger">Confirm</button>` +
		"</menu></form></dialog>\n</body>\n</html>\n")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(h.b.Bytes())
}

// fragment renders a page's content alone, as the live updates send it.
func fragment(content func(*hw)) []byte {
	h := &hw{}
	content(h)
	return h.b.Bytes()
}

func (s *Server) errorPage(w http.ResponseWriter, status int, err error) {
	s.page(w, status, pageData{Title: http.StatusText(status)}, func(h *hw) {
		h.el("p", err.Error(), "class", "error")
		h.raw(`<p><a href="/">All canaries</a></p>`)
	})
}

// phase writes a canary's phase, coloured by its health.
func (h *hw) phase(r *listRow) {
	label := r.Phase
	if r.Paused {
		label += " (paused)"
	}
	h.el("span", label, "class", "phase "+r.Health)
}

// weightBar writes a weight as a bar and a percentage.
func (h *hw) weightBar(weight int) {
	h.open("span", "class", "weight")
	h.open("svg", "class", "bar", "viewBox", "0 0 100 8", "width", "80", "height", "8", "aria-hidden", "true")
	h.void("rect", "class", "track", "width", "100", "height", "8")
	h.void("rect", "class", "fill", "width", strconv.Itoa(weight), "height", "8")
	h.close("svg")
	h.text(" " + strconv.Itoa(weight) + "%")
	h.close("span")
}

// gates writes the gate webhooks, or a dash.
func (h *hw) gates(gates []gateView) {
	if len(gates) == 0 {
		h.text("–")
		return
	}
	for _, g := range gates {
		label, class := g.Name, "gate"
		if g.Holding {
			label, class = label+" · holding", "gate holding"
		}
		h.el("span", label, "class", class, "title", g.Type)
		h.text(" ")
	}
}

// plot writes a chart as inline SVG.
func (h *hw) plot(p *plot) {
	h.open("figure", "class", "plot", "data-title", p.Title)
	h.open("figcaption")
	h.text(p.Title)
	for _, l := range p.Legend {
		h.text(" ")
		h.el("span", l.Label, "class", "key "+l.Class)
	}
	h.close("figcaption")
	h.open("svg", "viewBox", "0 0 "+num(p.Width)+" "+num(p.Height), "role", "img", "aria-label", p.Title)
	h.open("g", "class", "grid")
	for _, t := range p.YTicks {
		h.void("line", "x1", num(p.Left), "x2", num(p.Right), "y1", num(t.Pos), "y2", num(t.Pos))
		h.el("text", t.Label, "class", "ylabel", "x", num(p.Left), "y", num(t.Pos), "dx", "-6", "dy", "4", "text-anchor", "end")
	}
	for _, t := range p.XTicks {
		h.el("text", t.Label, "class", "xlabel", "x", num(t.Pos), "y", num(p.Height), "dy", "-6", "text-anchor", t.Anchor)
	}
	h.close("g")
	for _, l := range p.Lines {
		h.void("polyline", "class", l.Class, "points", l.Points, "fill", "none")
	}
	for _, d := range p.Dots {
		h.open("circle", "class", d.Class, "cx", num(d.X), "cy", num(d.Y), "r", "3.5", "data-metric", d.Metric, "data-value", d.Value,
			"data-time", d.Time, "data-verdict", d.Verdict, "data-threshold", d.Threshold)
		h.el("title", d.Title)
		h.close("circle")
	}
	h.close("svg")
	h.close("figure")
}
