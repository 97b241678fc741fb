package dashboard

import (
	"bytes"
	"html/template"
	"net/http"
)

// pageData is what the layout shows around a page's content.
type pageData struct {
	Title, Token string
	// Live is the URL of the page's server-sent events; empty for a page
	// that does not update.
	Live string
	Body any
}

// pageNames are the pages; each is templates/<name>.html, defining
// "content", inside templates/layout.html, with the parts of templates/parts.html.
var pageNames = []string{"list", "canary", "error"}

func parsePages() (map[string]*template.Template, error) {
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).ParseFS(assets, "templates/layout.html", "templates/parts.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		out[name] = t
	}
	return out, nil
}

// page writes a whole page.
func (s *Server) page(w http.ResponseWriter, status int, name, title, live string, body any) {
	var b bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&b, "layout", pageData{Title: title, Token: s.token, Live: live, Body: body}); err != nil {
		http.Error(w, "rendering the page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// fragment renders a page's content alone, as the live updates send it.
func (s *Server) fragment(name string, body any) ([]byte, error) {
	var b bytes.Buffer
	err := s.pages[name].ExecuteTemplate(&b, "content", body)
	return b.Bytes(), err
}

func (s *Server) errorPage(w http.ResponseWriter, status int, err error) {
	s.page(w, status, "error", http.StatusText(status), "", err.Error())
}

func htmlEscape(s string) string { return template.HTMLEscapeString(s) }
