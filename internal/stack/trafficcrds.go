package stack

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"

	"sigs.k8s.io/controller-runtime/pkg/client"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// The traffic CRDs are the ones their projects publish, read from Go
// modules that the module proxy serves. They are downloaded into the module
// cache from a scratch module, so Warbler's go.mod does not depend on them.
const (
	// Istio's generated CRDs (VirtualService, DestinationRule).
	istioModule = "istio.io/api@v1.31.1"
	istioCRDs   = "kubernetes/customresourcedefinitions.gen.yaml"
	// Emissary's released CRD manifest (Mapping v1, v2, v3alpha1).
	emissaryModule = "github.com/emissary-ingress/emissary/v3@v3.10.0"
	emissaryCRDs   = "manifests/emissary/emissary-crds.yaml.in"
	// OSM ships the SMI TrafficSplit CRD as apiextensions/v1 with the
	// schemas of v1alpha2..v1alpha4.
	osmModule    = "github.com/openservicemesh/osm@v1.2.4"
	osmSplitCRDs = "cmd/osm-bootstrap/crds/smi_traffic_split.yaml"
	// smi-sdk-go v0.1.0 has the first TrafficSplit CRD: v1alpha1, no schema.
	smiModule    = "github.com/servicemeshinterface/smi-sdk-go@v0.1.0"
	smiSplitCRDs = "crds/split.yaml"
	// Knative Serving's CRDs (Service, Revision), the version Flagger
	// builds against.
	knativeModule = "knative.dev/serving@v0.49.1"
	knativeCRDs   = "config/core/300-resources"
	// KEDA's ScaledObject CRD (v2.21.1 needs a newer Go than this one).
	kedaModule = "github.com/kedacore/keda/v2@v2.21.0"
	kedaCRDs   = "config/crd/bases/keda.sh_scaledobjects.yaml"
	// Contour's released CRD manifest (HTTPProxy).
	contourModule = "github.com/projectcontour/contour@v1.33.8"
	contourCRDs   = "examples/contour/01-crds.yaml"
	// Traefik's reference CRD of TraefikService (traefik.io/v1alpha1).
	traefikModule = "github.com/traefik/traefik/v3@v3.7.13"
	traefikCRDs   = "docs/content/reference/dynamic-configuration/traefik.io_traefikservices.yaml"
)

// transcribedCRDs are the CRDs of Gloo, Kuma and APISIX, whose modules the
// module proxy refuses: subsets of the published CRDs, see the file's
// header.
//
//go:embed crds/transcribed.yaml
var transcribedCRDs []byte

// The traffic providers whose CRDs InstallTrafficCRDs knows.
const (
	GatewayAPI = "gatewayapi"
	Istio      = "istio"
	Emissary   = "emissary"
	SMI        = "smi"
	Knative    = "knative"
	// KEDA is not a traffic provider: its ScaledObject CRD, for
	// autoscalerRef.
	KEDA    = "keda"
	Contour = "contour"
	Gloo    = "gloo"
	Traefik = "traefik"
	Kuma    = "kuma"
	APISIX  = "apisix"
)

var trafficInstallers = map[string]func(context.Context, client.Client, string) error{
	GatewayAPI: installGatewayAPI, Istio: installIstio, Emissary: installEmissary, SMI: installSMI,
	Knative: installKnative, KEDA: installKEDA,
	Contour: installFromModule(contourModule, contourCRDs, "httpproxies.projectcontour.io"),
	Traefik: installFromModule(traefikModule, traefikCRDs, "traefikservices.traefik.io"),
	Gloo:    installTranscribed("routetables.gateway.solo.io", "upstreams.gloo.solo.io"),
	Kuma:    installTranscribed("trafficroutes.kuma.io", "meshhttproutes.kuma.io"),
	APISIX:  installTranscribed("apisixroutes.apisix.apache.org"),
}

// InstallTrafficCRDs installs the published CRDs of traffic providers
// (GatewayAPI, Istio, Emissary, SMI, Knative, Contour, Traefik; Gloo, Kuma
// and APISIX from transcribedCRDs) and KEDA's ScaledObject into the cluster
// of c, reading them
// from Go modules in the module cache (downloaded through the module proxy
// from a scratch module, so Warbler's go.mod does not depend on them). root
// is the repository root.
func InstallTrafficCRDs(ctx context.Context, c client.Client, root string, providers ...string) error {
	for _, p := range providers {
		install, ok := trafficInstallers[p]
		if !ok {
			return fmt.Errorf("no CRDs known for provider %q", p)
		}
		if err := install(ctx, c, root); err != nil {
			return fmt.Errorf("installing the %s CRDs: %w", p, err)
		}
	}
	return nil
}

// moduleDir returns the directory of module@version in the module cache,
// downloading it through the module proxy from a scratch module.
func moduleDir(ctx context.Context, modVersion string) (string, error) {
	scratch, err := os.MkdirTemp("", "warbler-crd-module-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(scratch)
	if err := os.WriteFile(filepath.Join(scratch, "go.mod"), []byte("module scratch\n\ngo 1.26\n"), 0o644); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", modVersion)
	cmd.Dir = scratch
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr == nil && info.Error != "" {
		return "", fmt.Errorf("go mod download %s: %s", modVersion, info.Error)
	}
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %w: %s", modVersion, err, stderr.String())
	}
	if info.Dir == "" {
		return "", fmt.Errorf("go mod download %s printed no Dir", modVersion)
	}
	return info.Dir, nil
}

// gatewayAPIDir is the directory of the Gateway API module Warbler builds
// against.
func gatewayAPIDir(ctx context.Context, root string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m sigs.k8s.io/gateway-api: %w", err)
	}
	return string(bytes.TrimSpace(out)), nil
}

// crdDocs reads the CustomResourceDefinitions of a YAML file, keeping those
// named in names (all when names is empty).
func crdDocs(path string, names ...string) ([]map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readCRDDocs(f, path, names...)
}

// readCRDDocs is crdDocs on a reader; path names it in errors.
func readCRDDocs(r io.Reader, path string, names ...string) ([]map[string]any, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(r, 4096)
	var out []map[string]any
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		meta, _ := doc["metadata"].(map[string]any)
		name, _ := meta["name"].(string)
		if doc["kind"] == "CustomResourceDefinition" && (len(names) == 0 || slices.Contains(names, name)) {
			out = append(out, doc)
		}
	}
}

// installDocs writes CRD documents to a directory and installs them.
func installDocs(ctx context.Context, c client.Client, docs []map[string]any) error {
	dir, err := os.MkdirTemp("", "warbler-crds-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for i, d := range docs {
		data, err := yaml.Marshal(d)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%02d.yaml", i)), data, 0o644); err != nil {
			return err
		}
	}
	return InstallCRDs(ctx, c, dir)
}

// installGatewayAPI installs the standard-channel Gateway API CRDs that the
// routers and tests use.
func installGatewayAPI(ctx context.Context, c client.Client, root string) error {
	{
		dir, err := gatewayAPIDir(ctx, root)
		if err != nil {
			return err
		}
		var docs []map[string]any
		for _, kind := range []string{"gatewayclasses", "gateways", "httproutes"} {
			d, err := crdDocs(filepath.Join(dir, "config", "crd", "standard", "gateway.networking.k8s.io_"+kind+".yaml"))
			if err != nil {
				return err
			}
			docs = append(docs, d...)
		}
		return installDocs(ctx, c, docs)
	}
}

// installFromModule installs the named CRDs of a file in a module.
func installFromModule(modVersion, file string, names ...string) func(context.Context, client.Client, string) error {
	return func(ctx context.Context, c client.Client, _ string) error {
		dir, err := moduleDir(ctx, modVersion)
		if err != nil {
			return err
		}
		docs, err := crdDocs(filepath.Join(dir, file), names...)
		if err != nil {
			return err
		}
		if len(docs) != len(names) {
			return fmt.Errorf("%s in %s: %d of the CRDs %v found", file, modVersion, len(docs), names)
		}
		return installDocs(ctx, c, docs)
	}
}

// installTranscribed installs the named CRDs of transcribedCRDs.
func installTranscribed(names ...string) func(context.Context, client.Client, string) error {
	return func(ctx context.Context, c client.Client, _ string) error {
		docs, err := readCRDDocs(bytes.NewReader(transcribedCRDs), "crds/transcribed.yaml", names...)
		if err != nil {
			return err
		}
		if len(docs) != len(names) {
			return fmt.Errorf("crds/transcribed.yaml: %d of the CRDs %v found", len(docs), names)
		}
		return installDocs(ctx, c, docs)
	}
}

// installIstio installs Istio's VirtualService and DestinationRule CRDs.
func installIstio(ctx context.Context, c client.Client, _ string) error {
	{
		dir, err := moduleDir(ctx, istioModule)
		if err != nil {
			return err
		}
		docs, err := crdDocs(filepath.Join(dir, istioCRDs), "virtualservices.networking.istio.io", "destinationrules.networking.istio.io")
		if err != nil {
			return err
		}
		return installDocs(ctx, c, docs)
	}
}

// installEmissary installs Emissary's Mapping CRD. Emissary converts
// between Mapping versions with a webhook (emissary-apiext) that does not
// run here, so the test copy uses conversion None and stores v3alpha1, the
// version whose schema holds the fields of the others (hostname).
func installEmissary(ctx context.Context, c client.Client, _ string) error {
	{
		dir, err := moduleDir(ctx, emissaryModule)
		if err != nil {
			return err
		}
		docs, err := crdDocs(filepath.Join(dir, emissaryCRDs), "mappings.getambassador.io")
		if err != nil || len(docs) != 1 {
			return fmt.Errorf("the Mapping CRD in %s: %d found, %v", emissaryModule, len(docs), err)
		}
		spec := docs[0]["spec"].(map[string]any)
		spec["conversion"] = map[string]any{"strategy": "None"}
		for _, v := range spec["versions"].([]any) {
			vm := v.(map[string]any)
			vm["storage"] = vm["name"] == "v3alpha1"
		}
		return installDocs(ctx, c, docs)
	}
}

// installSMI installs one TrafficSplit CRD serving v1alpha1, v1alpha2 and
// v1alpha3: OSM's apiextensions/v1 CRD (v1alpha2 stored, v1alpha3 served
// with its published schema) plus the v1alpha1 version of smi-sdk-go
// v0.1.0, whose CRD has no schema; in apiextensions/v1 that is an object
// that preserves unknown fields.
func installSMI(ctx context.Context, c client.Client, _ string) error {
	{
		osmDir, err := moduleDir(ctx, osmModule)
		if err != nil {
			return err
		}
		smiDir, err := moduleDir(ctx, smiModule)
		if err != nil {
			return err
		}
		docs, err := crdDocs(filepath.Join(osmDir, osmSplitCRDs), "trafficsplits.split.smi-spec.io")
		if err != nil || len(docs) != 1 {
			return fmt.Errorf("the TrafficSplit CRD in %s: %d found, %v", osmModule, len(docs), err)
		}
		v1alpha1, err := crdDocs(filepath.Join(smiDir, smiSplitCRDs), "trafficsplits.split.smi-spec.io")
		if err != nil || len(v1alpha1) != 1 {
			return fmt.Errorf("the TrafficSplit CRD in %s: %d found, %v", smiModule, len(v1alpha1), err)
		}
		spec := docs[0]["spec"].(map[string]any)
		for _, v := range spec["versions"].([]any) {
			vm := v.(map[string]any)
			if vm["name"] == "v1alpha3" {
				vm["served"] = true
			}
		}
		spec["versions"] = append(spec["versions"].([]any), map[string]any{
			"name": "v1alpha1", "served": true, "storage": false,
			"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
		})
		if v := v1alpha1[0]["spec"].(map[string]any)["version"]; v != "v1alpha1" {
			return fmt.Errorf("%s serves %v, not v1alpha1", smiModule, v)
		}
		return installDocs(ctx, c, docs)
	}
}

// installKnative installs Knative Serving's Service and Revision CRDs.
func installKnative(ctx context.Context, c client.Client, _ string) error {
	dir, err := moduleDir(ctx, knativeModule)
	if err != nil {
		return err
	}
	var docs []map[string]any
	for _, f := range []string{"service.yaml", "revision.yaml"} {
		d, err := crdDocs(filepath.Join(dir, knativeCRDs, f))
		if err != nil || len(d) != 1 {
			return fmt.Errorf("the CRD in %s %s: %d found, %v", knativeModule, f, len(d), err)
		}
		docs = append(docs, d...)
	}
	return installDocs(ctx, c, docs)
}

// installKEDA installs KEDA's ScaledObject CRD.
func installKEDA(ctx context.Context, c client.Client, _ string) error {
	dir, err := moduleDir(ctx, kedaModule)
	if err != nil {
		return err
	}
	docs, err := crdDocs(filepath.Join(dir, kedaCRDs), "scaledobjects.keda.sh")
	if err != nil || len(docs) != 1 {
		return fmt.Errorf("the ScaledObject CRD in %s: %d found, %v", kedaModule, len(docs), err)
	}
	return installDocs(ctx, c, docs)
}
