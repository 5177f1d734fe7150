"""Git's object model, byte for byte, so every SHA the double hands out is a real git SHA.

Objects are stored the way git hashes them: ``<type> <len>\\0<payload>``. Trees and commits are
serialised exactly as ``git mktree`` / ``git commit-tree`` would, which lets tests compare with
the ``git`` CLI instead of trusting this module.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

BLOB_MODES = {"100644", "100755", "120000"}
TREE_MODE = "40000"  # git writes tree mode without the leading zero; the REST API shows "040000"
SUBMODULE_MODE = "160000"


def object_id(kind: str, payload: bytes) -> str:
    return hashlib.sha1(f"{kind} {len(payload)}".encode() + b"\0" + payload).hexdigest()


@dataclass(frozen=True)
class TreeEntry:
    mode: str  # git's own spelling: "100644", "100755", "120000", "40000", "160000"
    name: str
    sha: str

    @property
    def kind(self) -> str:
        if self.mode == TREE_MODE:
            return "tree"
        if self.mode == SUBMODULE_MODE:
            return "commit"
        return "blob"


def _tree_sort_key(entry: TreeEntry) -> bytes:
    # git orders entries by name, comparing a sub-tree as if its name ended in "/".
    name = entry.name.encode()
    return name + b"/" if entry.mode == TREE_MODE else name


def encode_tree(entries: list[TreeEntry]) -> bytes:
    """Any name git can hold (a backslash, a newline, '..': fsck would object, the format does not);
    ValueError for one it cannot: empty, or with a NUL (the terminator) or a '/' (the separator)."""
    for e in entries:
        if not e.name or "\0" in e.name or "/" in e.name:
            raise ValueError(f"git cannot store a tree entry named {e.name!r}")
    out = b""
    for e in sorted(entries, key=_tree_sort_key):
        out += f"{e.mode} {e.name}".encode() + b"\0" + bytes.fromhex(e.sha)
    return out


def decode_tree(payload: bytes) -> list[TreeEntry]:
    entries, i = [], 0
    while i < len(payload):
        nul = payload.index(b"\0", i)
        mode, name = payload[i:nul].decode().split(" ", 1)
        entries.append(TreeEntry(mode, name, payload[nul + 1 : nul + 21].hex()))
        i = nul + 21
    return entries


@dataclass(frozen=True)
class Signature:
    name: str
    email: str
    timestamp: int  # seconds since the epoch
    tz: str = "+0000"  # git keeps the author's offset; it is part of the hashed bytes

    def encode(self) -> str:
        return f"{self.name} <{self.email}> {self.timestamp} {self.tz}"

    @classmethod
    def decode(cls, text: str) -> "Signature":
        rest, ts, tz = text.rsplit(" ", 2)
        name, email = rest.rsplit(" <", 1)
        return cls(name, email.rstrip(">"), int(ts), tz)


@dataclass(frozen=True)
class Commit:
    tree: str
    parents: tuple[str, ...]
    author: Signature
    committer: Signature
    message: str

    def encode(self) -> bytes:
        lines = [f"tree {self.tree}"] + [f"parent {p}" for p in self.parents]
        lines += [f"author {self.author.encode()}", f"committer {self.committer.encode()}"]
        return ("\n".join(lines) + "\n\n" + self.message).encode()

    @classmethod
    def decode(cls, payload: bytes) -> "Commit":
        head, message = payload.decode().split("\n\n", 1)
        tree, parents, author, committer = "", [], None, None
        for line in head.split("\n"):
            key, value = line.split(" ", 1)
            if key == "tree":
                tree = value
            elif key == "parent":
                parents.append(value)
            elif key == "author":
                author = Signature.decode(value)
            elif key == "committer":
                committer = Signature.decode(value)
        return cls(tree, tuple(parents), author, committer, message)


class ObjectStore:
    """Content-addressed store of (kind, payload) pairs, like .git/objects."""

    def __init__(self) -> None:
        self._objects: dict[str, tuple[str, bytes]] = {}
        # Decoded trees by SHA: an object never changes, and GitHub's mergeability and diffs read
        # the same big trees on every request.
        self._trees: dict[str, tuple[TreeEntry, ...]] = {}

    def put(self, kind: str, payload: bytes) -> str:
        sha = object_id(kind, payload)
        self._objects[sha] = (kind, payload)
        return sha

    def get(self, sha: str, kind: str | None = None) -> bytes | None:
        found = self._objects.get(sha.lower()) if isinstance(sha, str) else None
        if found is None or (kind is not None and found[0] != kind):
            return None
        return found[1]

    def kind(self, sha: str) -> str | None:
        found = self._objects.get(sha.lower())
        return found[0] if found else None

    # -- blobs ------------------------------------------------------------------------------
    def put_blob(self, data: bytes) -> str:
        return self.put("blob", data)

    # -- trees ------------------------------------------------------------------------------
    def put_tree(self, entries: list[TreeEntry]) -> str:
        return self.put("tree", encode_tree(entries))

    def tree_entries(self, sha: str) -> list[TreeEntry] | None:
        cached = self._trees.get(sha)
        if cached is None:
            payload = self.get(sha, "tree")
            if payload is None:
                return None
            cached = self._trees[sha] = tuple(decode_tree(payload))
        return list(cached)

    def put_tree_from_files(self, files: dict[str, bytes]) -> str:
        """Build nested trees from a flat {path: content} map (all mode 100644)."""
        return self.apply_changes(None, {p: ("100644", self.put_blob(c)) for p, c in files.items()})

    def apply_changes(self, base_tree: str | None, changes: dict[str, tuple[str, str] | None]) -> str:
        """Return a new tree: base_tree with each path set to (mode, sha), or removed for None.

        This is what POST /git/trees with base_tree does: paths may contain '/', intermediate
        trees are rewritten, and directories left empty disappear (git cannot store them).
        """
        entries = {e.name: e for e in (self.tree_entries(base_tree) or [])} if base_tree else {}
        nested: dict[str, dict[str, tuple[str, str] | None]] = {}
        for path, change in changes.items():
            head, _, rest = path.strip("/").partition("/")
            if rest:
                nested.setdefault(head, {})[rest] = change
            elif change is None:
                entries.pop(head, None)
            else:
                entries[head] = TreeEntry(change[0], head, change[1])
        for name, sub_changes in nested.items():
            current = entries.get(name)
            sub_base = current.sha if current is not None and current.mode == TREE_MODE else None
            sub_sha = self.apply_changes(sub_base, sub_changes)
            if self.tree_entries(sub_sha):
                entries[name] = TreeEntry(TREE_MODE, name, sub_sha)
            else:
                entries.pop(name, None)
        return self.put_tree(list(entries.values()))

    def walk(self, tree_sha: str, prefix: str = "", recursive: bool = True):
        """Yield (path, TreeEntry) in git's order; sub-trees before their content, like ls-tree -rt."""
        for e in sorted(self.tree_entries(tree_sha) or [], key=_tree_sort_key):
            path = prefix + e.name
            yield path, e
            if recursive and e.mode == TREE_MODE:
                yield from self.walk(e.sha, path + "/", recursive)

    def lookup(self, tree_sha: str, path: str) -> TreeEntry | None:
        parts = [p for p in path.split("/") if p]
        entry = TreeEntry(TREE_MODE, "", tree_sha)
        for part in parts:
            if entry.mode != TREE_MODE:
                return None
            entry = next((e for e in self.tree_entries(entry.sha) or [] if e.name == part), None)
            if entry is None:
                return None
        return entry

    # -- commits ----------------------------------------------------------------------------
    def put_commit(self, commit: Commit) -> str:
        return self.put("commit", commit.encode())

    def commit(self, sha: str) -> Commit | None:
        payload = self.get(sha, "commit")
        return None if payload is None else Commit.decode(payload)

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """True when `ancestor` is reachable from `descendant` (what fast-forward means)."""
        seen, todo = set(), [descendant]
        while todo:
            sha = todo.pop()
            if sha == ancestor:
                return True
            if sha in seen:
                continue
            seen.add(sha)
            c = self.commit(sha)
            if c is not None:
                todo.extend(c.parents)
        return False

    # -- merging (what a merged pull request does to its base branch) ------------------------
    def flatten(self, tree_sha: str | None) -> dict[str, tuple[str, str]]:
        """{path: (mode, sha)} of every non-tree entry under tree_sha."""
        if tree_sha is None:
            return {}
        return {p: (e.mode, e.sha) for p, e in self.walk(tree_sha) if e.mode != TREE_MODE}

    def merge_base(self, a: str, b: str) -> str | None:
        """A common ancestor of commits a and b (the first one found walking back from b)."""
        ancestors_of_a, todo = set(), [a]
        while todo:
            sha = todo.pop()
            if sha not in ancestors_of_a:
                ancestors_of_a.add(sha)
                todo.extend(self.commit(sha).parents)
        queue, seen = [b], set()
        while queue:
            sha = queue.pop(0)
            if sha in ancestors_of_a:
                return sha
            if sha not in seen:
                seen.add(sha)
                queue.extend(self.commit(sha).parents)
        return None

    def merge_trees(self, base_tree: str | None, ours_tree: str, theirs_tree: str) -> str:
        """A file-level three-way merge; raises ValueError naming the paths both sides changed."""
        base, ours, theirs = self.flatten(base_tree), self.flatten(ours_tree), self.flatten(theirs_tree)
        changes, conflicts = {}, []
        for path in sorted(set(base) | set(ours) | set(theirs)):
            b, o, t = base.get(path), ours.get(path), theirs.get(path)
            if o == t or t == b:
                continue  # ours already has the result
            if o == b:
                changes[path] = t  # only their side changed it (None deletes)
            else:
                conflicts.append(path)
        if conflicts:
            raise ValueError(f"merge conflict in {', '.join(conflicts)}")
        return self.apply_changes(ours_tree, changes)
