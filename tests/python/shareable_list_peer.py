"""Python's side of tests/shareable_list_python_test.cpp: a ShareableList shared with mproc by name.

    shareable_list_peer.py attach NAME   prints list(sl) and sl.format, writes new items, prints
                                         them, and detaches (leaving the segment to its creator)
    shareable_list_peer.py layout        prints the bytes of a list of LAYOUT_ITEMS, in hex
    shareable_list_peer.py create        creates a list, prints its name and format, waits for a
                                         line on stdin (mproc attaches and writes meanwhile),
                                         prints list(sl), and unlinks it

Each printed line is "key: value" with Python's repr of the value.
"""
import sys
from multiprocessing import resource_tracker, shared_memory


# The same items as the layout test of tests/shareable_list_python_test.cpp.
LAYOUT_ITEMS = ["howdy", b"HoWdY", -273.154, 100, None, True, 42, "", b"ab\x00", "twelve chars", 0.1, False]


def show(key, value):
    print(f"{key}: {value!r}", flush=True)


def attach(name):
    sl = shared_memory.ShareableList(name=name)
    # Python 3.11 registers an attached segment with its resource tracker, which would unlink it
    # when this program ends (gh-82300): the segment is mproc's.
    resource_tracker.unregister(sl.shm._name, "shared_memory")
    show("items", list(sl))
    show("format", sl.format)
    show("len", len(sl))
    sl[0] = "from python"   # 16-byte slot
    sl[1] = -(2 ** 63)
    sl[2] = b"\x00\x01\xff"
    sl[3] = None
    sl[4] = 0.1
    sl[5] = False
    sl[6] = "é"             # a str into a number's slot: 2 UTF-8 bytes in 8
    show("modified", list(sl))
    sl.shm.close()


def layout():
    sl = shared_memory.ShareableList(LAYOUT_ITEMS)
    show("bytes", bytes(sl.shm.buf).hex())
    sl.shm.close()
    sl.shm.unlink()


def create():
    sl = shared_memory.ShareableList(
        ["howdy", b"HoWdY", -273.154, 100, None, True, 42, "", b"", "encodés", 1e300])
    show("name", sl.shm.name)
    show("format", sl.format)
    sys.stdin.readline()
    show("items", list(sl))
    show("format", sl.format)
    sl.shm.close()
    sl.shm.unlink()


if __name__ == "__main__":
    if sys.argv[1] == "attach":
        attach(sys.argv[2])
    elif sys.argv[1] == "layout":
        layout()
    elif sys.argv[1] == "create":
        create()
    else:
        sys.exit(f"unknown mode {sys.argv[1]}")
