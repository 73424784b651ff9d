"""Guards for the C++ sources that no compiler checks.

Every kernel functor lives in namespace losslab::detail::ref or
losslab::HWY_NAMESPACE, and every translation unit under src/ goes into one
library. Two families defining a same-named struct template in the same
namespace violate the one-definition rule: the linker silently keeps one
definition for both (this happened once with two `Hinge` functors). The test
fails when a struct or class name is defined in more than one file.
"""

import collections
import pathlib
import re

SRC = pathlib.Path(__file__).resolve().parents[2] / "src"


def test_kernel_type_names_are_unique_across_files():
    owners = collections.defaultdict(set)
    for path in SRC.rglob("*.h"):
        for name in re.findall(r"^(?:struct|class)\s+(\w+)\s*[:{]", path.read_text(), re.M):
            owners[name].add(path.name)
    clashes = {n: sorted(f) for n, f in owners.items() if len(f) > 1}
    assert not clashes, f"struct/class names defined in several files: {clashes}"
