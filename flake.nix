# Placeholder: a CPU dev shell with the tools the project needs. A later change pins
# nixpkgs in flake.lock, adds a `cuda` shell with libtorch 2.11 and `nix flake check`.
{
  description = "cifar-repro: reproduce and audit CIFAR-10 claims on tch (libtorch)";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs = { self, nixpkgs }:
    let
      system = "x86_64-linux";
      pkgs = nixpkgs.legacyPackages.${system};
    in {
      devShells.${system}.default = pkgs.mkShell {
        packages = [ pkgs.cargo pkgs.rustc pkgs.clippy pkgs.rustfmt pkgs.python311 pkgs.gcc ];
      };
    };
}
