"""Packaging metadata. The EMR artifact itself is a zip built by `make package` (tools/package.py);
this file lets the same code be installed as a normal distribution (e.g. into an image)."""

import re
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (ROOT / "common" / "version.py").read_text()).group(1)
CLUSTER_REQUIREMENTS = [
    line.strip()
    for line in (ROOT / "requirements" / "cluster.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]

setup(
    name="spark-jobs",
    version=VERSION,
    description="Production PySpark jobs for Amazon EMR: log analytics, transaction ETL, customer segmentation",
    long_description=(ROOT / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires="~=3.11",
    packages=find_packages(include=["jobs", "jobs.*", "common", "common.*", "schemas", "schemas.*"]),
    install_requires=CLUSTER_REQUIREMENTS,
    extras_require={"local": ["pyspark==3.5.6", "delta-spark==3.3.2"]},
)
