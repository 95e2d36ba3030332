package protocol

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Socket and lock files (docs/protocol.md section 15).

// maxSocketPath: sun_path holds 108 bytes with the terminator.
const maxSocketPath = 107

// ownedFiles are the files removed on a graceful exit: the socket, then the lock.
type ownedFiles struct {
	socket, lock string
}

func (f ownedFiles) removeSocket() {
	if f.socket != "" {
		os.Remove(f.socket)
	}
}

func (f ownedFiles) removeAll() {
	f.removeSocket()
	if f.lock != "" {
		os.Remove(f.lock)
	}
}

// bindListener claims the lock (unix), binds and listens; the exit code is
// exitOK, exitUsage (path too long) or exitBind.
func bindListener(cfg config) (net.Listener, ownedFiles, int) {
	if cfg.Type == "tcp" {
		l, err := net.Listen("tcp", cfg.Address)
		if err != nil {
			Logf("error", "cannot listen on %s: %v", cfg.Address, err)
			return nil, ownedFiles{}, exitBind
		}
		return l, ownedFiles{}, exitOK
	}
	path := cfg.Address
	if len(path) > maxSocketPath {
		Logf("error", "the socket path is %d bytes, over the limit of %d: %s", len(path), maxSocketPath, path)
		return nil, ownedFiles{}, exitUsage
	}
	lock := path + ".lock"
	if err := claimLock(path, lock); err != nil {
		Logf("error", "%v", err)
		return nil, ownedFiles{}, exitBind
	}
	files := ownedFiles{socket: path, lock: lock}
	// A stale socket is replaced; anything else there is not ours to delete.
	if err := removeStaleSocket(path); err != nil {
		Logf("error", "%v", err)
		os.Remove(lock)
		return nil, ownedFiles{}, exitBind
	}
	old := syscall.Umask(0o177)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err == nil {
		err = os.Chmod(path, 0o600)
	}
	if err != nil {
		Logf("error", "cannot listen on %s: %v", path, err)
		os.Remove(lock)
		return nil, ownedFiles{}, exitBind
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false) // the shutdown unlinks it first, itself
	return l, files, exitOK
}

// removeStaleSocket removes the socket file at `path`, if there is one; a
// regular file, directory or symbolic link there is left alone, an error
// (section 15, step 5: only a stale socket is replaced).
func removeStaleSocket(path string) error {
	info, err := os.Lstat(path)
	if err != nil {
		return nil // nothing there
	}
	if info.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("cannot bind %s: it exists and is not a socket (%s); a plugin only replaces a stale socket: move it away or choose another address", path, info.Mode().Type())
	}
	os.Remove(path)
	return nil
}

// claimLock creates `lock` atomically holding our pid: a temporary file
// linked into place, so that no one ever sees it empty.
func claimLock(socket, lock string) error {
	err := linkLock(lock)
	if !errors.Is(err, os.ErrExist) {
		return err
	}
	if owner := liveOwner(lock); owner != 0 {
		return fmt.Errorf("%s is held by the live process %d: another copy of this plugin serves %s", lock, owner, socket)
	}
	os.Remove(lock) // stale: left by a crash (the socket is checked once the lock is ours)
	if err := linkLock(lock); err != nil {
		return fmt.Errorf("cannot claim %s: %w", lock, err)
	}
	return nil
}

func linkLock(lock string) error {
	tmp := fmt.Sprintf("%s.%d.tmp", lock, os.Getpid())
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return fmt.Errorf("cannot create the lock file: %w", err)
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, lock); err != nil {
		if errors.Is(err, os.ErrExist) {
			return os.ErrExist
		}
		return fmt.Errorf("cannot create the lock file %s: %w", lock, err)
	}
	return nil
}

// liveOwner is the pid in `lock` if it names a live process other than this one, else 0.
func liveOwner(lock string) int {
	data, err := os.ReadFile(lock)
	if err != nil {
		return 0
	}
	text := strings.TrimSuffix(string(data), "\n")
	if text == "" || strings.Trim(text, "0123456789") != "" {
		return 0
	}
	pid, err := strconv.Atoi(text)
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return 0
	}
	if err := syscall.Kill(pid, 0); err == nil || errors.Is(err, syscall.EPERM) {
		return pid
	}
	return 0
}

// writeHandshake prints the handshake line once the listener accepts (section 6).
func writeHandshake(cfg config, l net.Listener) error {
	address := cfg.Address
	if cfg.Type == "tcp" {
		address = l.Addr().String()
	}
	line := fmt.Sprintf(`{"protocolVersion":1,"type":%s,"address":%s,"pid":%d}`+"\n", jsonString(cfg.Type), jsonString(address), os.Getpid())
	_, err := os.Stdout.WriteString(line) // os.Stdout is not buffered
	return err
}
