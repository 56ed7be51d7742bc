package vm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/vmtest/vmtest/vm/cache"
)

// Boot snapshots. Every machine's agent says hello at the same point of
// its boot, before it reads anything that belongs to the machine (see
// vm/agent: its host name, disk, files and network come later, in
// configure). Up to there, machines of one shape — the same QEMU, kernel,
// initramfs, memory, CPUs, devices and kernel command line — are
// identical, so the first machine of a shape is stopped at its hello, its
// memory and state are saved into the cache, and later machines of the
// shape start from that file instead of booting: their QEMU maps the
// memory and loads the rest with -incoming (see snapfile.go).
//
// snapshotStore keeps the snapshots of one vmtest process in a directory
// shared with other vmtest processes. Files are only ever created whole
// (rename) and removed; a machine that finds one missing, corrupt, or
// refused by QEMU boots cold and saves it again.

// maxSnapshots bounds the cache: after each save, the least recently used
// snapshots beyond this many are removed. A shape changes whenever vmtest,
// the kernel or QEMU does, and each file holds the non-zero memory of a
// booted guest (80 MiB or so on disk): 16 is about 1.4 GB, room for a few shapes
// of a few vmtest builds (several users or worktrees share a cache).
const maxSnapshots = 16

// maxSnapConsole bounds the console text a snapshot keeps; a boot with
// the kernel's messages on (no "quiet") prints some tens of KiB.
const maxSnapConsole = 1 << 20

// staleTemp is how old an unfinished snapshot file must be for a later
// save to remove it (its writer was killed).
const staleTemp = time.Hour

// snapshotStore coordinates the boot snapshots of one process. Its
// methods are safe for concurrent use.
type snapshotStore struct {
	dir string

	mu     sync.Mutex
	shapes map[string]*shape
}

// shape is the state of one snapshot key in this process.
type shape struct {
	// turn is a token: whoever holds it may open, verify, build or
	// remove the shape's file. A machine that builds holds it from its
	// cold boot to the save, so the other machines of the shape wait and
	// then revive rather than all booting cold at once.
	turn chan struct{}
	// verified is the file last checked against its checksum here; a
	// file with the same identity is not read again.
	verified fileID
	// broken says why this process gave up saving the shape; its
	// machines then boot cold.
	broken string
}

// fileID tells one version of a file from another: a new snapshot is a
// new inode (rename), and writing into one changes its mtime.
type fileID struct {
	dev, ino uint64
	size     int64
	mtime    time.Time
}

func idOf(fi os.FileInfo) fileID {
	id := fileID{size: fi.Size(), mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.dev, id.ino = uint64(st.Dev), st.Ino
	}
	return id
}

func newSnapshotStore(dir string) (*snapshotStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("boot snapshots: %w", err)
	}
	if err := cache.CheckPrivate(dir); err != nil {
		return nil, fmt.Errorf("boot snapshots: %w", err)
	}
	return &snapshotStore{dir: dir, shapes: map[string]*shape{}}, nil
}

func (s *snapshotStore) shape(key string) *shape {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.shapes[key]
	if sh == nil {
		sh = &shape{turn: make(chan struct{}, 1)}
		s.shapes[key] = sh
	}
	return sh
}

func (s *snapshotStore) path(key string) string { return filepath.Join(s.dir, key+".snap") }

// bootPlan says how one boot of a machine goes: revived from a snapshot,
// cold saving the snapshot at hello, or just cold. The machine must call
// done once it has saved the snapshot or given up.
type bootPlan struct {
	store *snapshotStore
	key   string
	sh    *shape
	// revive is the snapshot file, positioned at its migration stream;
	// the boot passes it to QEMU and closes it. id is its identity.
	revive  *os.File
	id      fileID
	header  snapHeader
	console []byte // what the saving machine printed up to the snapshot
	// build: boot cold and save the snapshot at hello. The plan holds
	// the shape's turn until done.
	build bool
	// note says why the plan is not a revive, for the machine's console
	// ("" when there is nothing to say).
	note string
	done func(err error)
}

// coldPlan boots without snapshots.
func coldPlan(note string) *bootPlan { return &bootPlan{note: note, done: func(error) {}} }

// plan decides how a machine of the shape key boots. It blocks while
// another machine of this process builds the shape's snapshot, so that it
// can then revive from it, or until ctx is done.
func (s *snapshotStore) plan(ctx context.Context, key string) (*bootPlan, error) {
	if s == nil {
		return coldPlan(""), nil
	}
	sh := s.shape(key)
	select {
	case sh.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	release := func() { <-sh.turn }
	if sh.broken != "" {
		release()
		return coldPlan(""), nil
	}
	p := &bootPlan{store: s, key: key, sh: sh}
	snap, note := s.open(key, sh)
	if snap.f != nil {
		release()
		p.revive, p.header, p.id, p.console, p.done = snap.f, snap.h, snap.id, snap.console, func(error) {}
		s.touch(key, snap.id)
		return p, nil
	}
	p.build, p.note = true, note
	var once sync.Once
	p.done = func(err error) {
		once.Do(func() {
			if err != nil {
				sh.broken = err.Error()
			} else {
				s.prune()
			}
			release()
		})
	}
	return p, nil
}

// openSnap is a snapshot file ready for QEMU: f positioned at the stream.
type openSnap struct {
	f       *os.File
	h       snapHeader
	id      fileID
	console []byte
}

// open opens and verifies the shape's snapshot, with the caller holding
// its turn. With no usable file it returns none and why, having removed a
// corrupt one.
func (s *snapshotStore) open(key string, sh *shape) (openSnap, string) {
	path := s.path(key)
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return openSnap{}, ""
	}
	if err != nil {
		return openSnap{}, fmt.Sprintf("boot snapshot %s: %v", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return openSnap{}, fmt.Sprintf("boot snapshot %s: %v", path, err)
	}
	snap := openSnap{f: f, id: idOf(fi)}
	if snap.id == sh.verified {
		snap.h, err = readSnapHeader(f)
	} else if snap.h, err = verifySnapshot(f); err == nil {
		sh.verified = snap.id
	}
	if err == nil {
		snap.console, err = readSnapConsole(f, snap.h)
	}
	if err == nil {
		return snap, ""
	}
	f.Close()
	sh.verified = fileID{}
	removeIfSame(path, snap.id)
	return openSnap{}, fmt.Sprintf("boot snapshot %s is corrupt (%v): removed", filepath.Base(path), err)
}

// reject removes the snapshot that QEMU refused or that did not come up,
// unless it was replaced meanwhile. It waits for the shape's turn, or
// gives up when ctx is done.
func (s *snapshotStore) reject(ctx context.Context, key string, id fileID) {
	sh := s.shape(key)
	select {
	case sh.turn <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-sh.turn }()
	if sh.verified == id {
		sh.verified = fileID{}
	}
	removeIfSame(s.path(key), id)
}

// removeIfSame removes path if it is still the file id.
func removeIfSame(path string, id fileID) {
	if fi, err := os.Stat(path); err == nil && idOf(fi) == id {
		os.Remove(path)
	}
}

// touch records that the snapshot was used, in its access time (its
// modification time identifies its content and stays).
func (s *snapshotStore) touch(key string, id fileID) {
	os.Chtimes(s.path(key), time.Now(), id.mtime)
}

// prune removes the least recently used snapshots beyond maxSnapshots,
// and unfinished ones left by killed processes. Another process may still
// be reading a removed file; its open descriptor keeps the data.
func (s *snapshotStore) prune() {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	type snap struct {
		path string
		used time.Time
	}
	var snaps []snap
	for _, e := range ents {
		p := filepath.Join(s.dir, e.Name())
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		switch {
		case filepath.Ext(e.Name()) == ".snap" && e.Name()[0] != '.':
			snaps = append(snaps, snap{p, lastUsed(fi)})
		case e.Name()[0] == '.' && time.Since(fi.ModTime()) > staleTemp:
			os.Remove(p)
		}
	}
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].used.After(snaps[j].used) })
	for i := maxSnapshots; i < len(snaps); i++ {
		os.Remove(snaps[i].path)
	}
}

// lastUsed is the later of a snapshot's access and modification times.
func lastUsed(fi os.FileInfo) time.Time {
	t := fi.ModTime()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		if a := time.Unix(st.Atim.Unix()); a.After(t) {
			t = a
		}
	}
	return t
}

// diskSize is what a file takes on disk: less than its size for a
// snapshot, whose memory image is sparse.
func diskSize(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}

// SnapshotCache summarises a directory of boot snapshots.
type SnapshotCache struct {
	Dir   string
	Count int
	Bytes int64 // on disk
	// LastUsed is when the most recently used snapshot was last used
	// (zero without snapshots).
	LastUsed time.Time
}

// SnapshotDir is the directory of boot snapshots in the cache directory.
func SnapshotDir(cacheDir string) string { return filepath.Join(cacheDir, "snapshots") }

// ReadSnapshotCache summarises the boot snapshots in dir; a missing
// directory has none.
func ReadSnapshotCache(dir string) (SnapshotCache, error) {
	c := SnapshotCache{Dir: dir}
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	for _, e := range ents {
		if filepath.Ext(e.Name()) != ".snap" || e.Name()[0] == '.' {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		c.Count++
		c.Bytes += diskSize(fi)
		if u := lastUsed(fi); u.After(c.LastUsed) {
			c.LastUsed = u
		}
	}
	return c, nil
}
