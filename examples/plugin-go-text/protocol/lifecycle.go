package protocol

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// The plugin's life: admission of calls, the idle timeout and the graceful
// shutdown (docs/protocol.md sections 13 and 14).

// shutdownGrace: how long calls in flight may still run once shutting down.
const shutdownGrace = 5 * time.Second

type plugin struct {
	cfg      config
	listener net.Listener
	files    ownedFiles
	server   *http.Server
	impl     *implementation

	mu           sync.Mutex // guards the four fields below
	inFlight     int
	lastActivity time.Time
	draining     bool
	triggered    bool // the shutdown sequence has been sent its reason

	drained  chan struct{} // closed when draining and inFlight reach 0
	shutdown chan string   // the reason of the first trigger
}

func newPlugin(cfg config, l net.Listener, files ownedFiles, impl *implementation) *plugin {
	p := &plugin{cfg: cfg, listener: l, files: files, impl: impl, lastActivity: time.Now(),
		drained: make(chan struct{}), shutdown: make(chan string, 1)}
	p.server = &http.Server{
		Handler: http.HandlerFunc(p.route), // no ServeMux: it would redirect paths such as /v1//x/ping
		// Section 12: never close an idle connection sooner than 5 s (the
		// manager stops reusing one after 2 s).
		IdleTimeout:       10 * time.Second,
		ReadHeaderTimeout: 60 * time.Second,
	}
	return p
}

func (p *plugin) serve() {
	// Serve returns once the listener is closed by the shutdown.
	p.server.Serve(p.listener)
}

// admit counts a call in, or refuses it (false) once shutting down.
func (p *plugin) admit() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.draining {
		return false
	}
	p.inFlight++
	p.lastActivity = time.Now()
	return true
}

// done counts a call out, after its answer has been written.
func (p *plugin) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inFlight--
	p.lastActivity = time.Now()
	if p.draining && p.inFlight == 0 {
		close(p.drained)
	}
}

// stopAdmitting refuses every later call with 503 (step 1 of section 13.2).
func (p *plugin) stopAdmitting() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopAdmittingLocked()
}

func (p *plugin) stopAdmittingLocked() {
	if p.draining {
		return
	}
	p.draining = true
	if p.inFlight == 0 {
		close(p.drained)
	}
}

// beginShutdown starts the graceful shutdown; later triggers change nothing.
func (p *plugin) beginShutdown(reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.beginLocked(reason)
}

func (p *plugin) beginLocked(reason string) {
	p.stopAdmittingLocked()
	if !p.triggered {
		p.triggered = true
		p.shutdown <- reason
	}
}

// watchIdle checks on a ticker: deciding and setting draining in one
// critical section makes every call either admitted or refused (section 14.2).
func (p *plugin) watchIdle() {
	if p.cfg.IdleTimeout <= 0 {
		return
	}
	tick := p.cfg.IdleTimeout / 10
	if tick < 10*time.Millisecond {
		tick = 10 * time.Millisecond
	} else if tick > time.Second {
		tick = time.Second
	}
	for range time.Tick(tick) {
		p.mu.Lock()
		if !p.draining && p.inFlight == 0 && time.Since(p.lastActivity) >= p.cfg.IdleTimeout {
			p.beginLocked("idle timeout")
		}
		p.mu.Unlock()
	}
}

// watchStdin: end of file (or an error) on stdin means shut down (section 13.1).
func (p *plugin) watchStdin(stdin *bufio.Reader) {
	io.Copy(io.Discard, stdin)
	p.beginShutdown("end of file on stdin")
}

// trapSignals takes SIGTERM and SIGINT over; called before the handshake, so
// that a signal sent right after it shuts down cleanly (section 13.1) instead
// of killing the process with the default action.
func trapSignals() chan os.Signal {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	return signals
}

func (p *plugin) watchSignals(signals chan os.Signal) {
	p.beginShutdown((<-signals).String())
}

// waitExit runs the shutdown sequence of section 13.2 once triggered and
// returns the exit code. http.Server.Shutdown is not used: it closes idle
// kept-alive connections at once, where a request the manager just wrote
// would be lost instead of answered 503; Close at the end closes them all.
func (p *plugin) waitExit() int {
	reason := <-p.shutdown
	Logf("info", "shutting down: %s", reason)
	p.files.removeSocket() // step 2: a connect now fails with ENOENT ("never delivered")
	p.listener.Close()     // and nothing more is accepted
	code := exitOK
	select { // step 3
	case <-p.drained:
	case <-time.After(shutdownGrace):
		Logf("error", "calls still running after the %s grace were abandoned", shutdownGrace)
		code = exitAbandoned
	}
	p.server.Close() // step 4: every connection
	p.files.removeAll()
	return code
}
