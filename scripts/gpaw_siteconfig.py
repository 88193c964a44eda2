# GPAW build configuration (read by GPAW's setup.py through GPAW_CONFIG; see scripts/bootstrap.sh).
# ScaLAPACK: without it, plane-wave runs of Gamma-point system cells under MPI stop in GPAW 26.7's
# eigensolvers (an AssertionError in gpaw/core/matrix.py: the subspace matrices are laid out for BLACS,
# which needs ScaLAPACK); cells whose k-points are spread over the ranks ran without it.
# Debian: libscalapack-openmpi-dev. A siteconfig replaces GPAW's default BLAS choice, so blas is named.
scalapack = True
libraries += ['blas', 'scalapack-openmpi']  # noqa: F821 (exec'd inside GPAW's setup.py, which defines it)
