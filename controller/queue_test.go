package controller

import (
	"errors"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller/priorityqueue"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// A due tick of a canary the controller first saw in its initial list (or
// a resync, both queued at handler.LowPriority) is served before watch
// events, not after every one of them: the queue is fed here the way
// controller-runtime's reconcileHandler requeues a Result.
func TestDueTicksGoBeforeWatchEvents(t *testing.T) {
	q := newQueue("priority-test", workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
	defer q.ShutDown()
	pq, ok := q.(priorityqueue.PriorityQueue[reconcile.Request])
	if !ok {
		t.Fatalf("newQueue returned %T, not controller-runtime's priority queue", q)
	}
	req := func(name string) reconcile.Request {
		return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "prod", Name: name}}
	}
	pq.AddWithOpts(priorityqueue.AddOpts{Priority: ptr.To(handler.LowPriority)}, req("listed"))
	pq.AddWithOpts(priorityqueue.AddOpts{}, req("watched"))
	// "due" was dequeued at LowPriority (initial list); its tick asked for
	// a requeue, which controller-runtime adds with the Result's priority
	res := scheduled(ctrl.Result{RequeueAfter: time.Millisecond}, nil)
	if res.Priority == nil {
		t.Fatal("a requeue after a tick has no priority: it keeps the one it was dequeued with (-100 after the initial list)")
	}
	pq.AddWithOpts(priorityqueue.AddOpts{After: res.RequeueAfter, Priority: res.Priority}, req("due"))

	deadline := time.Now().Add(time.Minute)
	for pq.Len() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 3 canaries ready after a minute", pq.Len())
		}
		time.Sleep(10 * time.Millisecond)
	}
	var order []string
	for range 3 {
		r, prio, _ := pq.GetWithPriority()
		order = append(order, r.Name)
		pq.Done(r)
		if r.Name == "due" && prio != dueTickPriority {
			t.Errorf("the due tick was served with priority %d, want %d", prio, dueTickPriority)
		}
	}
	if want := []string{"due", "watched", "listed"}; order[0] != want[0] || order[1] != want[1] || order[2] != want[2] {
		t.Errorf("served %v, want %v", order, want)
	}
}

// A retry after an error keeps the priority it was dequeued with, and a
// tick that asked for no requeue gets none.
func TestScheduledLeavesRetriesAlone(t *testing.T) {
	if res := scheduled(ctrl.Result{}, errors.New("conflict")); res.Priority != nil {
		t.Errorf("a retry after an error got priority %d", *res.Priority)
	}
	if res := scheduled(ctrl.Result{}, nil); res.Priority != nil || res.RequeueAfter != 0 {
		t.Errorf("a tick with nothing to requeue got %+v", res)
	}
}
