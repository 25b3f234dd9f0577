{
  description = "cifar-repro: re-run, verify and audit the CIFAR-10 claims of a report (Rust on tch, libtorch 2.11)";

  # nixos-25.11 at a fixed revision; flake.lock holds it with its NAR hash.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/8fd9daa3db09ced9700431c5b7ad0e8ba199b575";

  outputs =
    { self, nixpkgs }:
    let
      system = "x86_64-linux";
      pkgs = import nixpkgs {
        inherit system;
        # The CUDA libraries inside the torch wheels are unfree.
        config.allowUnfree = true;
      };
      python = pkgs.python311;

      # libtorch 2.11.0 as tch 0.24 expects it: the same PyPI wheels, pinned by the same
      # SHA-256s, as ci/torch-requirements.txt (torch==2.11.0, CUDA 13 build, and its
      # NVIDIA libraries; ci/torch-wheels.json lists their addresses). nixpkgs' torch-bin is
      # another release at this revision, so the wheel's own files are used instead.
      wheels = map (
        wheel:
        pkgs.fetchurl {
          inherit (wheel) url sha256;
          name = wheel.name;
        }
      ) (builtins.fromJSON (builtins.readFile ./ci/torch-wheels.json));

      # The wheels unpacked the way `pip install --target` lays them out (torch finds its
      # CUDA libraries through $ORIGIN/../../nvidia), ELF files patched to find glibc and
      # libstdc++ in the store. The CUDA driver (libcuda.so.1) is the host's, found at run
      # time (see the cuda shell).
      torchSite = pkgs.stdenv.mkDerivation {
        pname = "torch-wheels";
        version = "2.11.0";
        srcs = wheels;
        dontUnpack = true;
        nativeBuildInputs = [
          pkgs.unzip
          pkgs.autoPatchelfHook
        ];
        buildInputs = [
          pkgs.stdenv.cc.cc.lib
          pkgs.zlib
        ];
        autoPatchelfIgnoreMissingDeps = [
          "libcuda.so.1"
          "libnvidia-ml.so.1"
        ];
        installPhase = ''
          mkdir -p $out/site-packages
          for wheel in $srcs; do
            unzip -q -o "$wheel" -d $out/site-packages
          done
        '';
        preFixup = ''
          addAutoPatchelfSearchPath $out/site-packages/torch/lib
          for dir in $out/site-packages/nvidia/*/lib $out/site-packages/nvidia/cu13/lib; do
            if [ -d "$dir" ]; then addAutoPatchelfSearchPath "$dir"; fi
          done
        '';
      };

      tools = [
        pkgs.rustc
        pkgs.cargo
        pkgs.clippy
        pkgs.rustfmt
        python
        pkgs.git
      ];

      # LIBTORCH wins over .cargo/config.toml's [env], and ci/provision-libtorch.sh installs
      # nothing when it is set. PYTHONPATH serves the fixture and benchmark scripts.
      useTorch = ''
        export LIBTORCH=${torchSite}/site-packages/torch
        export PYTHONPATH=${torchSite}/site-packages''${PYTHONPATH:+:$PYTHONPATH}
      '';
    in
    {
      packages.${system}.torch-wheels = torchSite;

      devShells.${system} = {
        # CPU: build, test, bench.
        default = pkgs.mkShell {
          packages = tools;
          shellHook = useTorch;
        };
        # GPU runners: as above, plus the host's CUDA driver on the library path
        # (/run/opengl-driver/lib on NixOS; elsewhere set CUDA_DRIVER_LIB to its folder).
        cuda = pkgs.mkShell {
          packages = tools;
          shellHook = useTorch + ''
            export LD_LIBRARY_PATH=''${CUDA_DRIVER_LIB:-/run/opengl-driver/lib}''${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
          '';
        };
      };

      # `nix flake check`: build the crate and run `cargo test` in the sandbox (no network:
      # crates come from Cargo.lock, libtorch from the wheels above, data from golden/).
      checks.${system}.tests = pkgs.rustPlatform.buildRustPackage {
        pname = "cifar-repro";
        version = "0.1.0";
        src = pkgs.lib.cleanSource ./.;
        cargoLock.lockFile = ./Cargo.lock;
        LIBTORCH = "${torchSite}/site-packages/torch";
        nativeBuildInputs = [ python ];
        buildType = "debug";
        checkType = "debug";
      };
    };
}
