//go:build pins

// Package pins holds blank imports of the modules Warbler pins on purpose
// before its own packages import them, so that `go mod tidy` keeps the one
// mutually compatible set in go.mod (k8s.io/* v0.36.3 with kube-apiserver
// 1.36.3, controller-runtime v0.24, Helm v3.21). It is never built.
package pins

import (
	_ "github.com/go-chi/chi/v5"
	_ "github.com/prometheus/client_golang/api/prometheus/v1"
	_ "github.com/prometheus/common/model"
	_ "github.com/rakyll/hey/requester"
	_ "helm.sh/helm/v3/pkg/action"
	_ "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	_ "sigs.k8s.io/controller-runtime"
	_ "sigs.k8s.io/gateway-api/apis/v1"
)
