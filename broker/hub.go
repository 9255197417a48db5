package broker

import "sync"

// Change says that the view of a task changed, and by which event.
type Change struct {
	TenantID string
	TaskID   string
	Kind     string
	Seq      uint64
}

// Hub tells waiting readers that the view changed. Long-polls, event streams
// and the dispatcher's cancel handling wait on it instead of polling.
type Hub struct {
	mu        sync.Mutex
	watchers  map[string]map[*watcher]struct{}
	listeners []func(Change)
}

type watcher struct{ ch chan struct{} }

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{watchers: make(map[string]map[*watcher]struct{})}
}

// WatchTask returns a channel closed at the next change of the task, and a
// function to call when no longer waiting.
func (h *Hub) WatchTask(tenantID, taskID string) (<-chan struct{}, func()) {
	return h.watch(tenantID + "/" + taskID)
}

// WatchTenant returns a channel closed at the next change of any of the
// tenant's tasks, and a function to call when no longer waiting.
func (h *Hub) WatchTenant(tenantID string) (<-chan struct{}, func()) {
	return h.watch(tenantID)
}

// Listen registers fn to be called, in the projector's goroutine, for every
// change once it is committed. fn must not block.
func (h *Hub) Listen(fn func(Change)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.listeners = append(h.listeners, fn)
}

func (h *Hub) watch(key string) (<-chan struct{}, func()) {
	w := &watcher{ch: make(chan struct{})}
	h.mu.Lock()
	set := h.watchers[key]
	if set == nil {
		set = make(map[*watcher]struct{})
		h.watchers[key] = set
	}
	set[w] = struct{}{}
	h.mu.Unlock()
	return w.ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if set, ok := h.watchers[key]; ok {
			delete(set, w)
			if len(set) == 0 {
				delete(h.watchers, key)
			}
		}
	}
}

// publish wakes the watchers of every changed task and tenant and calls the
// listeners.
func (h *Hub) publish(changes []Change) {
	if len(changes) == 0 {
		return
	}
	h.mu.Lock()
	listeners := h.listeners
	for _, c := range changes {
		for _, key := range [2]string{c.TenantID + "/" + c.TaskID, c.TenantID} {
			if set, ok := h.watchers[key]; ok {
				for w := range set {
					close(w.ch)
				}
				delete(h.watchers, key)
			}
		}
	}
	h.mu.Unlock()
	for _, c := range changes {
		for _, fn := range listeners {
			fn(c)
		}
	}
}
