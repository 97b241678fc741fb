package dashboard

import (
	"context"
	"fmt"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	flaggerv1 "github.com/warbler-dev/warbler/api/v1beta1"
)

// accessTTL is how long an access review is trusted; a role granted or
// taken away shows in the buttons after at most this long.
const accessTTL = 30 * time.Second

// accessCache asks the API server what the user may do
// (SelfSubjectAccessReview), and remembers the answers for accessTTL.
type accessCache struct {
	c   client.Client
	now func() time.Time

	mu      sync.Mutex
	answers map[authorizationv1.ResourceAttributes]accessAnswer
}

type accessAnswer struct {
	allowed bool
	at      time.Time
}

func newAccessCache(c client.Client, now func() time.Time) *accessCache {
	return &accessCache{c: c, now: now, answers: map[authorizationv1.ResourceAttributes]accessAnswer{}}
}

// allowed tells whether the user may do what attrs describe.
func (a *accessCache) allowed(ctx context.Context, attrs authorizationv1.ResourceAttributes) (bool, error) {
	a.mu.Lock()
	ans, ok := a.answers[attrs]
	a.mu.Unlock()
	if ok && a.now().Sub(ans.at) < accessTTL {
		return ans.allowed, nil
	}
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs}}
	if err := a.c.Create(ctx, review); err != nil {
		return false, fmt.Errorf("reviewing access to %s %s/%s in %q: %w", attrs.Verb, attrs.Resource, attrs.Subresource, attrs.Namespace, err)
	}
	a.mu.Lock()
	a.answers[attrs] = accessAnswer{allowed: review.Status.Allowed, at: a.now()}
	a.mu.Unlock()
	return review.Status.Allowed, nil
}

// allowedActions are the operations the user may run on the canary: those
// that apply to it and whose every permission the API server grants.
func (s *Server) allowedActions(ctx context.Context, c *flaggerv1.Canary) ([]Action, error) {
	var out []Action
	for _, act := range Actions() {
		if (act == Pause && c.Status.Paused) || (act == Resume && !c.Status.Paused) {
			continue
		}
		attrs, ok := s.o.Operator.Needs(c, act)
		if !ok {
			continue
		}
		granted := true
		for _, at := range attrs {
			allowed, err := s.access.allowed(ctx, at)
			if err != nil {
				return out, err
			}
			granted = granted && allowed
		}
		if granted {
			out = append(out, act)
		}
	}
	return out, nil
}

// scopeTTL is how long the namespaces the user can list are remembered.
const scopeTTL = time.Minute

// scopeCache remembers where the user can list canaries.
type scopeCache struct {
	mu         sync.Mutex
	at         time.Time
	all        bool
	namespaces []string
}

// scope tells where the dashboard lists canaries: every namespace (all)
// when the user may list canaries cluster-wide, else the namespaces in
// which an access review allows it, else the default namespace.
func (s *Server) scope(ctx context.Context) (all bool, namespaces []string) {
	if s.o.Namespace != "" {
		return false, []string{s.o.Namespace}
	}
	sc := s.scopes
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if !sc.at.IsZero() && s.o.Now().Sub(sc.at) < scopeTTL {
		return sc.all, sc.namespaces
	}
	sc.all, sc.namespaces = s.resolveScope(ctx)
	sc.at = s.o.Now()
	return sc.all, sc.namespaces
}

func (s *Server) resolveScope(ctx context.Context) (bool, []string) {
	err := s.o.Client.List(ctx, &flaggerv1.CanaryList{}, client.Limit(1))
	if err == nil {
		return true, nil
	}
	fallback := []string{s.o.DefaultNamespace}
	if !apierrors.IsForbidden(err) {
		s.o.Log.Info("dashboard: listing canaries in every namespace failed", "error", err.Error())
		return false, fallback
	}
	var nss corev1.NamespaceList
	if err := s.o.Client.List(ctx, &nss); err != nil {
		return false, fallback
	}
	var out []string
	for _, ns := range nss.Items {
		ok, err := s.access.allowed(ctx, authorizationv1.ResourceAttributes{Namespace: ns.Name, Verb: "list", Group: flaggerv1.GroupVersion.Group, Resource: "canaries"})
		if err == nil && ok {
			out = append(out, ns.Name)
		}
	}
	if len(out) == 0 {
		return false, fallback
	}
	return false, out
}
