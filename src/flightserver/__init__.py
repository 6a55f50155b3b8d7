"""flightserver: an Arrow Flight SQL server for DataFusion over Delta Lake and file tables."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("flightserver")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"

__all__ = ["__version__"]
