"""The double holds every file name git can (``..``, a backslash, a newline: git's tree format
allows them, only fsck objects), hashes such trees exactly as the git CLI does, refuses the names
git cannot store, and serves them as GitHub does (URLs percent-encoded). It also counts what it
is asked, can gather concurrent requests, and cuts tree
listings at a limit with "truncated", as GitHub does at 100,000 entries."""
from __future__ import annotations

import concurrent.futures
import subprocess
from urllib.parse import quote

import httpx
import pytest

from tests.github_double.gitobjects import ObjectStore, TreeEntry
from tests.github_double_tests.test_double import scoped_token

APP_ID = 515151
NAMES = ["..", "evil\\name.yaml", "new\nline.yaml", "tab\tname.tf", "\x1b[31mred.tf"]


def git(cwd, *args: str, input: bytes | None = None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, check=True).stdout.decode().strip()


def reader(gh, private_key) -> dict[str, str]:
    token = scoped_token(gh, private_key, permissions={"contents": "read"}, app_id=APP_ID)
    return {"Authorization": f"token {token}"}


def test_trees_with_names_git_allows_hash_as_git_hashes_them(tmp_path):
    git(tmp_path, "init", "-q", ".")
    store = ObjectStore()
    blob = store.put_blob(b"x")
    assert git(tmp_path, "hash-object", "-w", "--stdin", input=b"x") == blob
    listing = b"".join(f"100644 blob {blob}\t{name}".encode() + b"\0" for name in NAMES)
    assert store.put_tree([TreeEntry("100644", name, blob) for name in NAMES]) == git(tmp_path, "mktree", "-z",
                                                                                       input=listing)
    nested = store.put_tree_from_files({"../x.tf": b"x", "dir/evil\\name.yaml": b"x"})
    assert [path for path, _ in store.walk(nested)] == ["..", "../x.tf", "dir", "dir/evil\\name.yaml"]


@pytest.mark.parametrize("name", ["a\0b.tf", "", "a/b"])
def test_names_git_cannot_store_are_refused(name):
    with pytest.raises(ValueError, match="git cannot store"):
        ObjectStore().put_tree([TreeEntry("100644", name, "0" * 40)])


def test_such_names_are_listed_and_served_with_encoded_urls(gh, private_key):
    gh.push_commit("octo/infra", {"dir/evil\\name.yaml": "a: 1\n", "dir/new\nline.yaml": "b: 2\n", "../x.tf": "c\n"})
    headers = reader(gh, private_key)
    tree = httpx.get(f"{gh.base_url}/repos/octo/infra/git/trees/main", params={"recursive": "1"}, headers=headers).json()
    assert {"../x.tf", "dir/evil\\name.yaml", "dir/new\nline.yaml"} <= {e["path"] for e in tree["tree"]}
    listing = httpx.get(f"{gh.base_url}/repos/octo/infra/contents/dir", params={"ref": "main"}, headers=headers).json()
    assert sorted(e["name"] for e in listing) == ["evil\\name.yaml", "new\nline.yaml"]
    assert all(quote(e["path"]) in e["url"] and "\\" not in e["url"] for e in listing)
    newline = quote("dir/new\nline.yaml")
    served = httpx.get(f"{gh.base_url}/repos/octo/infra/contents/{newline}", params={"ref": "main"}, headers=headers)
    assert served.status_code == 200 and served.json()["path"] == "dir/new\nline.yaml"


def test_requests_are_counted_gathered_and_trees_truncated(gh, private_key):
    headers = reader(gh, private_key)
    gh.reset_traffic()
    gh.world.tree_entry_limit = 1
    try:
        tree = httpx.get(f"{gh.base_url}/repos/octo/infra/git/trees/main", params={"recursive": "1"},
                         headers=headers).json()
    finally:
        gh.world.tree_entry_limit = 100_000
    assert tree["truncated"] is True and len(tree["tree"]) == 1
    assert gh.requests == [("GET", "/repos/octo/infra/git/trees/main")]
    # Two requests held until both are in flight: met only because they were sent together.
    gathering = gh.gather("GET", r"/repos/octo/infra$", 2)
    with httpx.Client() as one, httpx.Client() as two:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda c: c.get(f"{gh.base_url}/repos/octo/infra", headers=headers), (one, two)))
    assert [a.status_code for a in answers] == [200, 200] and gathering.met and gathering.arrived == 2
    assert len(gh.requests_matching("GET", r"/repos/octo/infra$")) == 2
