package integration_test

//lint:file-ignore SA1019 the API server's service proxy reads v1 Endpoints, which a selector-less Service needs written by hand

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
	"github.com/warbler-dev/warbler/internal/testenv"
	"github.com/warbler-dev/warbler/loadtester"
	"github.com/warbler-dev/warbler/loadtester/gates"
	"github.com/warbler-dev/warbler/webhooks"
)

// loadtesterHandler is Warbler's loadtester with in-memory gates.
func loadtesterHandler() http.Handler {
	return loadtester.NewServer(loadtester.Options{Gates: gates.NewMemory()}).Handler()
}

// gateState asks the loadtester whether a gate is open, signing the
// request when hmacKey is given.
func gateState(t *testing.T, base, path, ns string, hmacKey ...byte) int {
	t.Helper()
	body := fmt.Sprintf(`{"name":"podinfo","namespace":%q}`, ns)
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(hmacKey) > 0 {
		req.Header.Set(webhooks.SignatureHeader, webhooks.Sign(hmacKey, time.Now(), path, []byte(body)))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestApproveAndRejectThroughTheLoadtester(t *testing.T) {
	ns := env.Namespace(t)
	startController(t, ns, newMetrics(map[string]float64{"request-success-rate": 99.9, "latency-p99": 80}), nil)
	lt := httptest.NewServer(loadtesterHandler())
	defer lt.Close()
	a := &flaggerv1.CanaryAnalysis{Interval: "1s", Threshold: 5, StepWeight: 50, Metrics: checkedMetrics(),
		Webhooks: []flaggerv1.CanaryWebhook{
			{Name: "approval", Type: flaggerv1.ConfirmPromotionHook, URL: lt.URL + "/gate/check"},
			{Name: "abort", Type: flaggerv1.RollbackHook, URL: lt.URL + "/rollback/check"},
		}}
	create(t, deployment(ns, "podinfo", imageV1, 2), canaryOf(ns, "podinfo", "kubernetes:replicas", a))
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseInitialized, 60*time.Second)
	setImage(t, ns, "podinfo", imageV2)
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseWaitingPromotion, 60*time.Second)
	before := specs(t, ns, "podinfo")

	// get names the gate that holds the canary and the command that opens it
	code, stdout, stderr := kubectlCanary(t, "get", "podinfo", "-n", ns)
	for _, want := range []string{
		"Reason:         AwaitingApproval\n",
		"Message:        Halt podinfo." + ns + " advancement waiting for promotion approval approval\n",
		"Gate:           approval (confirm-promotion) " + lt.URL + "/gate/check\n",
		"Waiting:        for ",
		"Open it with:   kubectl canary approve podinfo -n " + ns + "\n",
	} {
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("get of a gate-held canary: exit %d (%s), output lacks %q:\n%s", code, stderr, want, stdout)
		}
	}

	code, stdout, stderr = kubectlCanary(t, "approve", "podinfo", "-n", ns)
	want := fmt.Sprintf("canary podinfo.%s: gate opened: POST %s/gate/open (confirm-promotion webhook approval)\n", ns, lt.URL)
	if code != 0 || stdout != want {
		t.Fatalf("approve: exit %d, stdout %q, stderr %q; want %q", code, stdout, stderr, want)
	}
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseSucceeded, 60*time.Second)
	unchanged(t, ns, before)

	code, stdout, stderr = kubectlCanary(t, "reject", "podinfo", "-n", ns)
	if code != 0 || !strings.Contains(stdout, "gate closed: POST "+lt.URL+"/gate/close") || !strings.Contains(stdout, "rollback signalled: POST "+lt.URL+"/rollback/open") {
		t.Fatalf("reject: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// the next release is rolled back by the signalled rollback hook
	setImage(t, ns, "podinfo", "ghcr.io/stefanprodan/podinfo:6.0.2")
	waitPhase(t, ns, "podinfo", flaggerv1.CanaryPhaseFailed, 60*time.Second)
	if img := getDeployment(t, ns, "podinfo-primary").Spec.Template.Spec.Containers[0].Image; img != imageV2 {
		t.Errorf("primary runs %s after the rejected release, want %s", img, imageV2)
	}
}

// hostIP is an address of this machine that is not loopback: the API
// server's service proxy refuses loopback endpoints.
func hostIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ip, ok := a.(*net.IPNet); ok && ip.IP.To4() != nil && !ip.IP.IsLoopback() && !ip.IP.IsLinkLocalUnicast() {
			return ip.IP.String()
		}
	}
	t.Fatal("this machine has no non-loopback IPv4 address for the loadtester endpoint")
	return ""
}

func TestGatesThroughTheServiceProxy(t *testing.T) {
	ns := env.Namespace(t)
	ln, err := net.Listen("tcp", net.JoinHostPort(hostIP(t), "0"))
	if err != nil {
		t.Fatal(err)
	}
	// the loadtester requires signed requests: the plugin signs the path
	// the loadtester serves, not the longer one of the service proxy
	key := []byte("proxy-hmac-key")
	handler := loadtester.NewServer(loadtester.Options{Gates: gates.NewMemory(), Auth: &loadtester.Auth{HMACKey: key}}).Handler()
	lt := &httptest.Server{Listener: ln, Config: &http.Server{Handler: handler}}
	lt.Start()
	defer lt.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	ip := ln.Addr().(*net.TCPAddr).IP.String()

	// a Service "loadtester" whose endpoint is the server above; the API
	// server proxies only to endpoints that are pods with that IP
	serviceForAddress(t, ns, "loadtester", ip, port)
	create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "loadtester-auth"}, Data: map[string][]byte{"hmacKey": key}})
	secret := &flaggerv1.LocalSecretReference{Name: "loadtester-auth"}
	a := &flaggerv1.CanaryAnalysis{Interval: "1m", Threshold: 5, StepWeight: 50, Webhooks: []flaggerv1.CanaryWebhook{
		{Name: "approval", Type: flaggerv1.ConfirmRolloutHook, URL: "http://loadtester." + ns + "/gate/check", SecretRef: secret},
		{Name: "abort", Type: flaggerv1.RollbackHook, URL: "http://loadtester." + ns + ".svc.cluster.local:80/rollback/check", SecretRef: secret},
	}}
	create(t, canaryOf(ns, "podinfo", "kubernetes:replicas", a))

	if got := gateState(t, lt.URL, "/gate/check", ns); got != http.StatusUnauthorized {
		t.Fatalf("unsigned gate check: %d, want 401", got)
	}
	if got := gateState(t, lt.URL, "/gate/check", ns, key...); got != http.StatusForbidden {
		t.Fatalf("gate before approve: %d, want 403", got)
	}
	// the endpoints reach the API server's proxy asynchronously
	testenv.Eventually(t, 30*time.Second, func() error {
		code, stdout, stderr := kubectlCanary(t, "approve", "podinfo", "-n", ns)
		if code != 0 || !strings.Contains(stdout, "via the API server's service proxy") {
			return fmt.Errorf("approve: exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
		return nil
	})
	if got := gateState(t, lt.URL, "/gate/check", ns, key...); got != http.StatusOK {
		t.Errorf("gate after approve: %d, want 200", got)
	}
	code, stdout, stderr := kubectlCanary(t, "reject", "podinfo", "-n", ns)
	if code != 0 || strings.Count(stdout, "via the API server's service proxy") != 2 {
		t.Fatalf("reject: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if gate, rollback := gateState(t, lt.URL, "/gate/check", ns, key...), gateState(t, lt.URL, "/rollback/check", ns, key...); gate != http.StatusForbidden || rollback != http.StatusOK {
		t.Errorf("after reject: gate %d rollback %d, want 403 and 200", gate, rollback)
	}
}

func TestClusterErrorsAreOneLine(t *testing.T) {
	ns := env.Namespace(t)
	other := env.Namespace(t)
	create(t, canaryOf(ns, "podinfo", "kubernetes", &flaggerv1.CanaryAnalysis{Interval: "1m", Threshold: 1, Iterations: 2}))
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"get", "nope", "-n", ns}, fmt.Sprintf(`canary "nope" not found in namespace %q`, ns)},
		{[]string{"get", "podinfo", "-n", other}, fmt.Sprintf(`canary "podinfo" not found in namespace %q`, other)},
		{[]string{"history", "podinfo", "--namespace", other}, fmt.Sprintf(`canary "podinfo" not found in namespace %q`, other)},
		{[]string{"get", "podinfo", "-n", "no-such-namespace"}, `namespace "no-such-namespace" not found`},
		{[]string{"list", "-n", "no-such-namespace"}, `namespace "no-such-namespace" not found`},
		{[]string{"status", "podinfo", "-n", "no-such-namespace"}, `namespace "no-such-namespace" not found`},
		{[]string{"promote", "nope", "-n", ns}, `canary "nope" not found`},
		{[]string{"approve", "podinfo", "-n", ns}, "canary podinfo." + ns + " has no gate webhooks"},
		{[]string{"reject", "podinfo", "-n", ns, "--hook", "x"}, `has no webhook named "x" among its gate webhooks`},
	}
	for _, tc := range cases {
		code, stdout, stderr := kubectlCanary(t, tc.args...)
		if code != 1 || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and one line with %q", tc.args, code, stdout, stderr, tc.want)
		}
	}
	code, stdout, _ := kubectlCanary(t, "list", "-A")
	if code != 0 || !regexp.MustCompile(ns+`\s+podinfo\s+`).MatchString(stdout) {
		t.Errorf("list -A: exit %d:\n%s", code, stdout)
	}
}

// serviceForAddress makes a selector-less Service whose only endpoint is a
// pod, bound to no real node, that reports ip as its address.
func serviceForAddress(t *testing.T, ns, name, ip string, port int) {
	t.Helper()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{NodeName: "outside-the-cluster", Containers: []corev1.Container{{Name: "loadtester", Image: "loadtester"}}}}
	create(t, pod)
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}}
	if err := env.Client.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(int32(port))}}}}
	eps := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: ip, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: name}}},
			Ports:     []corev1.EndpointPort{{Name: "http", Port: int32(port)}},
		}}}
	create(t, svc, eps)
}
