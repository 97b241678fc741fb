package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The arguments of Flagger's chart and kustomize manifests start Warbler's
// loadtester unchanged.
func TestFlaggerManifestArgs(t *testing.T) {
	c, err := parseFlags([]string{"-port=8080", "-log-level=info", "-timeout=1h", "-namespace-regexp=", "-zap-encoding=json"})
	if err != nil {
		t.Fatal(err)
	}
	if c.port != 8080 || c.timeout != time.Hour || c.logLevel != "info" || c.namespaceRegexp != "" {
		t.Errorf("config %+v", c)
	}
	if _, err := parseFlags([]string{"-port", "x"}); err == nil {
		t.Error("a bad -port was accepted")
	}
}

func TestAuthFromFilesAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	tokens, key := filepath.Join(dir, "tokens"), filepath.Join(dir, "key")
	_ = os.WriteFile(tokens, []byte("# callers\nci s3cret\nlone-token\n"), 0o600)
	_ = os.WriteFile(key, []byte("k3y\n"), 0o600)
	t.Setenv("LOADTESTER_BEARER_TOKEN", "from-env")
	auth, err := buildAuth(&config{tokenFile: tokens, hmacKeyFile: key, hmacWindow: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if auth.Tokens["s3cret"] != "ci" || auth.Tokens["lone-token"] != "bearer" || auth.Tokens["from-env"] != "bearer" ||
		string(auth.HMACKey) != "k3y" || !auth.Enabled() {
		t.Errorf("auth %+v", auth)
	}
	if _, err := buildAuth(&config{tokenFile: filepath.Join(dir, "missing")}); err == nil {
		t.Error("a missing token file was accepted")
	}
}
