"""Packaging for the ANPR appliance: the recognition library, the device daemon and the workstation tool."""
from setuptools import find_packages, setup

setup(
    name="anpr-appliance",
    version="0.1.0",
    description="Automatic number plate recognition for small devices",
    python_requires=">=3.11",
    packages=find_packages(include=["anpr", "anpr.*", "device", "device.*", "training_host", "training_host.*"]),
    package_data={"anpr": ["models/*.pkl", "models/*.sha256"], "training_host": ["device_scripts/*.sh"]},
    install_requires=[
        "numpy>=1.24",
        "opencv-python-headless>=4.8",
        "pytensor>=2.20",
        "gpiozero>=2.0",
        "pydantic>=2.5",
        "platformdirs>=3",
        "tqdm>=4.60",
        "threadpoolctl>=3",
        "pyyaml>=6",  # training_host deploy: Ansible YAML inventories
    ],
    extras_require={
        # journald support; on Debian the python3-systemd package provides the same module.
        "journal": ["systemd-python>=234"],
        # Training-only extras: learning-curve plots and font rendering for synthetic characters.
        "train": ["matplotlib>=3.7", "pillow>=10"],
        "test": ["pytest>=7", "pillow>=10", "matplotlib>=3.7"],
        # PyTensor's JAX backend (--mode JAX; the CUDA path on a GPU workstation or Jetson).
        "jax": ["jax>=0.4"],
        # Benchmark-only: the same CNN in PyTorch as the training-speed reference.
        "bench": ["torch==2.13.0"],
    },
    entry_points={
        "console_scripts": [
            "anpr=anpr.cli:main",
            "anpr-device=device.cli:main",
            "training_host=training_host.cli:main",
        ]
    },
)
