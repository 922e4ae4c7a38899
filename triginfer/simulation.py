"""Toy simulation of a forward (endcap) muon trigger: a muon gun and four detector stations.

Everything is vectorised in numpy and deterministic for a given seed. Every
parameter lives in :class:`SimulationConfig`, documented there.

Physics model, per muon (charge ``q``, transverse momentum ``pT``, pseudorapidity
``eta``, azimuth ``phi0``):

* The muon crosses 4 stations at increasing ``|z|``. In the magnetic field its
  azimuth at station ``i`` is ``phi0 + k_i * g(|eta|) * q/pT`` where ``k_i`` is the
  station's bending coefficient (rad GeV) and ``g`` the lever-arm factor
  ``exp(-lever_arm_slope * (|eta| - eta_min))`` -- muons at larger ``|eta|`` travel
  less far in the transverse field and bend less.
* Multiple scattering in the iron before each station gives an azimuthal kick
  drawn from ``N(0, ms_i / p)`` with ``p = pT cosh(eta)``; kicks accumulate
  station after station, so stations are correlated like in a real detector.
* Each station measures phi with Gaussian resolution ``phi_resolution_rad`` and
  theta with ``theta_resolution_deg``; it records a local bend angle (chamber
  segment) ``bend_coefficient_i * g * q/pT`` plus noise, saturated to the bend
  word's range. Each station fires with probability ``station_efficiency_i``.
* The outputs are in hardware integer units, as a track finder sees them:
  phi in units of 1/60 degree (``0 .. 21599``), theta in units of
  ``theta_lsb_deg`` above ``theta_min_deg`` (7 bits, ``0 .. 127``), the bend as a
  small signed integer, a presence bit per station and the 4-bit station pattern
  ``mode = sum_i present_i << (4 - i)`` (station 1 is the most significant bit, as
  in the CMS EMTF convention).

Two samples are produced:

* ``muons``: a flat gun in ``q/pT`` (|q/pT| uniform in ``[1/pt_max, 1/pt_min]``,
  random sign) for training and resolution/turn-on studies;
* ``minbias``: the same detector with a steeply falling spectrum
  ``dN/dpT ~ pT^-minbias_pt_power`` above ``pt_min``, for trigger rates.

Rate normalisation of ``minbias``: each minbias event stands for one LHC bunch
crossing that holds one muon with ``pT >= pt_min`` in the endcap acceptance. A
fraction ``minbias_muon_fraction`` of the ``bunch_crossing_rate_hz`` crossings
holds such a muon, so the trigger rate at a threshold is
``bunch_crossing_rate_hz * minbias_muon_fraction * (passing events / minbias
events)`` -- see :func:`minbias_rate_per_event`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field

import numpy as np

from triginfer.errors import ConfigError

log = logging.getLogger(__name__)

N_STATIONS = 4
PHI_UNITS_PER_DEGREE = 60  # phi LSB is 1/60 degree
PHI_FULL_CIRCLE = 360 * PHI_UNITS_PER_DEGREE  # 21600
THETA_BITS = 7

#: Per-station flat branches written to ROOT, in this order per station.
STATION_QUANTITIES = ("phi", "theta", "bend", "present")
TRUTH_BRANCHES = ("gen_q_over_pt", "gen_pt", "gen_eta", "gen_phi")


@dataclass
class SimulationConfig:
    """Every parameter of the toy forward-muon trigger simulation.

    Attributes:
        pt_min: lowest generated transverse momentum, GeV.
        pt_max: highest generated transverse momentum, GeV (|q/pT| >= 1/pt_max).
        eta_min: lowest generated |eta| (endcap acceptance edge).
        eta_max: highest generated |eta|.
        station_z_cm: nominal |z| of the 4 stations (documentation; the bending
            coefficients below encode the field integral up to each one).
        bending_rad_gev: azimuthal bending ``k_i`` at each station, rad GeV, at |eta| = eta_min.
        lever_arm_slope: slope of the lever-arm factor ``g = exp(-slope (|eta| - eta_min))``.
        multiple_scattering_rad_gev: width of the scattering kick before each station,
            rad GeV of total momentum ``p``.
        phi_resolution_rad: phi measurement resolution of a station.
        theta_resolution_deg: theta measurement resolution of a station.
        bend_units_gev: local bend ``b_i`` (in bend LSBs per GeV^-1 of q/pT) per station.
        bend_noise_units: Gaussian noise on the bend, in LSBs.
        bend_bits: width of the signed bend word (saturates to its range).
        station_efficiency: probability that each station records the muon.
        theta_min_deg: theta of hardware value 0.
        theta_lsb_deg: theta LSB (about 0.285 degree).
        minbias_pt_power: spectral index ``n`` of ``dN/dpT ~ pT^-n`` for minbias.
        minbias_muon_fraction: fraction of bunch crossings with a muon above pt_min in
            the acceptance (sets the rate normalisation).
        bunch_crossing_rate_hz: filled-bunch crossing rate, 2808 x 11.246 kHz.

    Non-Gaussian effects (the tails that set real trigger rates: a low-pT muon measured as a
    high-pT one); each is on by default and off at probability 0:

        ms_tail_probability: per station, probability that the scattering before it is one
            large-angle (Rutherford) scatter instead of the Gaussian core. The Highland
            formula describes the central ~98% of the projected angle; single hard Coulomb
            scatters give a ``dN/dx ~ x^-3`` tail (PDG, *Passage of particles through
            matter*, multiple scattering section).
        ms_tail_min_sigma, ms_tail_max_sigma: the tail's kick in units of the core width:
            Pareto (``x^-3``) above ``min``, cut at ``max`` (nuclear size).
        noise_segment_probability: per station, probability of a background segment
            (neutron-induced hits, punch-through, another particle) in the track finder's road.
            Endcap chambers see hit rates of this order per bunch crossing at high pile-up.
        noise_window_rad: half-width of the road (in phi, around the phi of the muon at the
            first station) in which the background segment lies, uniformly.
        wrong_segment_fraction: probability that the track finder takes the background
            segment instead of the muon's own when both are in the road (it cannot tell
            them apart before the fit); a station the muon missed is fired by the background.
        shower_probability_per_tev: per station, probability per TeV of muon momentum of a
            catastrophic energy loss (bremsstrahlung, pair production, nuclear interaction)
            in the iron before it, whose shower displaces the recorded segment.
        shower_probability_max: cap of that probability.
        shower_displacement_rad: Gaussian spread of the displaced segment's phi.
        ghost_probability: per station, probability that the chamber reports a ghost copy of
            the segment (strip/wire pairing ambiguity) and the track finder takes the ghost.
        ghost_offset_rad: phi offset of the ghost (either side).
    """

    pt_min: float = 2.0
    pt_max: float = 1000.0
    eta_min: float = 1.2
    eta_max: float = 2.4
    station_z_cm: tuple[float, ...] = (600.0, 830.0, 935.0, 1020.0)
    bending_rad_gev: tuple[float, ...] = (0.35, 0.95, 1.10, 1.20)
    lever_arm_slope: float = 1.0
    multiple_scattering_rad_gev: tuple[float, ...] = (0.020, 0.045, 0.055, 0.060)
    phi_resolution_rad: float = 0.0004
    theta_resolution_deg: float = 0.15
    bend_units_gev: tuple[float, ...] = (40.0, 24.0, 16.0, 12.0)
    bend_noise_units: float = 1.5
    bend_bits: int = 5
    station_efficiency: tuple[float, ...] = (0.95, 0.95, 0.95, 0.95)
    theta_min_deg: float = 8.5
    theta_lsb_deg: float = (45.0 - 8.5) / 128
    minbias_pt_power: float = 3.5
    minbias_muon_fraction: float = 0.05
    bunch_crossing_rate_hz: float = 2808 * 11246.0
    ms_tail_probability: float = 0.02
    ms_tail_min_sigma: float = 2.5
    ms_tail_max_sigma: float = 60.0
    noise_segment_probability: float = 0.05
    noise_window_rad: float = 0.25
    wrong_segment_fraction: float = 0.5
    shower_probability_per_tev: float = 0.1
    shower_probability_max: float = 0.2
    shower_displacement_rad: float = 0.01
    ghost_probability: float = 0.02
    ghost_offset_rad: float = 0.005

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` if a parameter is out of its physical range."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            items = value if isinstance(value, list | tuple) else (value,)
            if not items or any(isinstance(v, bool) or not isinstance(v, int | float)
                                or not math.isfinite(v) for v in items):
                raise ConfigError(f"simulation.{f.name} must be a finite number (one per "
                                  f"station for the lists), got {value!r}")
        if not isinstance(self.bend_bits, int):
            raise ConfigError(f"simulation.bend_bits must be an integer, got {self.bend_bits!r}")
        for name in ("phi_resolution_rad", "theta_resolution_deg", "bend_noise_units",
                     "theta_min_deg"):
            if getattr(self, name) < 0:
                raise ConfigError(f"simulation.{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("theta_lsb_deg", "bunch_crossing_rate_hz"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"simulation.{name} must be > 0, got {getattr(self, name)!r}")
        if not 0 <= self.minbias_muon_fraction <= 1:
            raise ConfigError("simulation.minbias_muon_fraction must be a probability in [0, 1]")
        for name in ("station_z_cm", "bend_units_gev"):
            if min(getattr(self, name)) <= 0:
                raise ConfigError(f"simulation.{name} values must be > 0")
        for name in ("station_z_cm", "bending_rad_gev", "multiple_scattering_rad_gev",
                     "bend_units_gev", "station_efficiency"):
            value = tuple(getattr(self, name))
            setattr(self, name, value)
            if len(value) != N_STATIONS:
                raise ConfigError(f"simulation.{name} needs {N_STATIONS} values, got {len(value)}")
        if not 0 < self.pt_min < self.pt_max:
            raise ConfigError("simulation: need 0 < pt_min < pt_max")
        if not 0 < self.eta_min < self.eta_max:
            raise ConfigError("simulation: need 0 < eta_min < eta_max")
        if any(not 0.0 <= e <= 1.0 for e in self.station_efficiency):
            raise ConfigError("simulation.station_efficiency values must lie in [0, 1]")
        if self.minbias_pt_power <= 1.0:
            raise ConfigError("simulation.minbias_pt_power must be > 1 (normalisable spectrum)")
        if not 2 <= self.bend_bits <= 16:
            raise ConfigError("simulation.bend_bits must lie in [2, 16]")
        for name in ("ms_tail_probability", "noise_segment_probability",
                     "wrong_segment_fraction", "shower_probability_max", "ghost_probability"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ConfigError(f"simulation.{name} must be a probability in [0, 1]")
        for name in ("ms_tail_min_sigma", "ms_tail_max_sigma", "noise_window_rad",
                     "shower_probability_per_tev", "shower_displacement_rad", "ghost_offset_rad"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ConfigError(f"simulation.{name} must be a number >= 0")
        if self.ms_tail_max_sigma < self.ms_tail_min_sigma:
            raise ConfigError("simulation.ms_tail_max_sigma must be >= ms_tail_min_sigma")

    @classmethod
    def from_dict(cls, values: dict) -> SimulationConfig:
        """Build from a config mapping; unknown keys raise :class:`ConfigError` naming them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"unknown simulation parameter(s) {unknown}; known: {sorted(known)}"
            )
        return cls(**values)


@dataclass
class Sample:
    """A simulated (or loaded) sample: per-station hardware words and generator truth.

    Station arrays have shape ``(n_events, 4)``; truth arrays ``(n_events,)``. For a
    station that did not fire, phi/theta/bend are 0 and ``present`` is 0.
    """

    phi: np.ndarray
    theta: np.ndarray
    bend: np.ndarray
    present: np.ndarray
    truth: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.phi.shape[0])

    @property
    def mode(self) -> np.ndarray:
        """The 4-bit station pattern, station 1 the most significant bit."""
        weights = np.array([8, 4, 2, 1], dtype=np.int32)
        return (self.present.astype(np.int32) * weights).sum(axis=1).astype(np.int32)

    @property
    def n_stations(self) -> np.ndarray:
        """Number of stations that fired, per event."""
        return self.present.astype(np.int32).sum(axis=1)

    def select(self, mask: np.ndarray) -> Sample:
        """The events where ``mask`` is true (a boolean or index array)."""
        return Sample(
            phi=self.phi[mask], theta=self.theta[mask], bend=self.bend[mask],
            present=self.present[mask], truth={k: v[mask] for k, v in self.truth.items()},
        )

    @staticmethod
    def concatenate(samples: list[Sample]) -> Sample:
        """Join samples event-wise (e.g. chunks read from ROOT files)."""
        if not samples:
            raise ValueError("concatenate needs at least one sample")
        keys = samples[0].truth.keys()
        return Sample(
            phi=np.concatenate([s.phi for s in samples]),
            theta=np.concatenate([s.theta for s in samples]),
            bend=np.concatenate([s.bend for s in samples]),
            present=np.concatenate([s.present for s in samples]),
            truth={k: np.concatenate([s.truth[k] for s in samples]) for k in keys},
        )

    def to_branches(self) -> dict[str, np.ndarray]:
        """Flat ROOT branches: ``phi_st1..4``, ``theta_st..``, ``bend_st..``, ``present_st..``,
        ``mode`` and the truth branches."""
        out: dict[str, np.ndarray] = {}
        for quantity in STATION_QUANTITIES:
            arr = getattr(self, quantity)
            for i in range(N_STATIONS):
                out[f"{quantity}_st{i + 1}"] = np.ascontiguousarray(arr[:, i])
        out["mode"] = self.mode
        out.update(self.truth)
        return out


def _generate(
    rng: np.random.Generator, q_over_pt: np.ndarray, cfg: SimulationConfig,
    diagnostics: dict | None = None,
) -> Sample:
    """Propagate muons of given q/pT through the detector (eta, phi drawn here).

    Every random number is drawn whatever the configuration, so switching one effect off
    changes nothing else. ``diagnostics`` (a dict) receives per-station masks of the
    non-Gaussian effects (``ms_tail``, ``shower``, ``ghost``, ``wrong_segment``,
    ``noise_fired``) for tests and studies."""
    n = q_over_pt.shape[0]
    abs_eta = rng.uniform(cfg.eta_min, cfg.eta_max, n)
    eta = abs_eta * rng.choice(np.array([-1.0, 1.0]), n)
    phi0 = rng.uniform(-np.pi, np.pi, n)
    pt = 1.0 / np.abs(q_over_pt)
    p = pt * np.cosh(abs_eta)

    lever = np.exp(-cfg.lever_arm_slope * (abs_eta - cfg.eta_min))[:, None]
    bending = np.asarray(cfg.bending_rad_gev)[None, :] * lever * q_over_pt[:, None]
    sigma_ms = np.asarray(cfg.multiple_scattering_rad_gev)[None, :] / p[:, None]
    kicks = rng.standard_normal((n, N_STATIONS)) * sigma_ms
    # single large-angle scatters: Pareto (x^-3) tail of the projected angle
    shape = (n, N_STATIONS)
    tail = rng.random(shape) < cfg.ms_tail_probability
    tail_x = np.minimum(cfg.ms_tail_min_sigma * (1.0 - rng.random(shape)) ** -0.5,
                        cfg.ms_tail_max_sigma)
    tail_sign = rng.choice(np.array([-1.0, 1.0]), shape)
    kicks = np.where(tail, tail_sign * tail_x * sigma_ms, kicks)
    phi_true = phi0[:, None] + bending + np.cumsum(kicks, axis=1)
    # catastrophic energy loss at high momentum displaces the segment
    p_shower = np.minimum(cfg.shower_probability_per_tev * p / 1000.0,
                          cfg.shower_probability_max)[:, None]
    shower = rng.random(shape) < p_shower
    shower_dphi = rng.standard_normal(shape) * cfg.shower_displacement_rad
    phi_meas = (phi_true + rng.standard_normal(shape) * cfg.phi_resolution_rad
                + np.where(shower, shower_dphi, 0.0))
    # ghost copies of a segment, taken instead of the real one
    ghost = rng.random(shape) < cfg.ghost_probability
    ghost_sign = rng.choice(np.array([-1.0, 1.0]), shape)
    phi_meas = phi_meas + np.where(ghost, ghost_sign * cfg.ghost_offset_rad, 0.0)
    # background segments in the road around the muon's first-station phi
    noise = rng.random(shape) < cfg.noise_segment_probability
    take_noise = rng.random(shape) < cfg.wrong_segment_fraction
    noise_phi = (phi_true[:, :1] + rng.uniform(-1.0, 1.0, shape) * cfg.noise_window_rad)
    noise_theta = rng.standard_normal(shape) * 3.0 * cfg.theta_lsb_deg
    bend_max_f = float(2 ** (cfg.bend_bits - 1) - 1)
    noise_bend = rng.uniform(-bend_max_f - 1, bend_max_f, shape)
    fired = rng.random(shape) < np.asarray(cfg.station_efficiency)[None, :]
    wrong = noise & (take_noise | ~fired)       # the station reports the background segment
    phi_meas = np.where(wrong, noise_phi, phi_meas)
    phi_units = np.rint(np.degrees(phi_meas) * PHI_UNITS_PER_DEGREE).astype(np.int64)
    phi_word = np.mod(phi_units, PHI_FULL_CIRCLE).astype(np.int32)

    theta_deg = np.degrees(2.0 * np.arctan(np.exp(-abs_eta)))[:, None]
    theta_meas = (theta_deg + rng.standard_normal((n, N_STATIONS)) * cfg.theta_resolution_deg
                  + np.where(wrong, noise_theta, 0.0))
    theta_word = np.clip(
        np.rint((theta_meas - cfg.theta_min_deg) / cfg.theta_lsb_deg), 0, 2**THETA_BITS - 1
    ).astype(np.int32)

    bend_max = 2 ** (cfg.bend_bits - 1) - 1
    bend_val = (np.asarray(cfg.bend_units_gev)[None, :] * lever * q_over_pt[:, None]
                + rng.standard_normal((n, N_STATIONS)) * cfg.bend_noise_units)
    bend_val = np.where(wrong | shower, noise_bend, bend_val)
    bend_word = np.clip(np.rint(bend_val), -bend_max - 1, bend_max).astype(np.int32)

    present = fired | (noise & ~fired)
    present_word = present.astype(np.int32)
    if diagnostics is not None:
        diagnostics.update({"ms_tail": tail, "shower": shower & fired, "ghost": ghost & fired,
                            "wrong_segment": wrong & fired, "noise_fired": noise & ~fired,
                            "fired": fired})
    phi_word *= present_word
    theta_word *= present_word
    bend_word *= present_word

    truth = {
        "gen_q_over_pt": q_over_pt.astype(np.float64),
        "gen_pt": pt.astype(np.float64),
        "gen_eta": eta.astype(np.float64),
        "gen_phi": phi0.astype(np.float64),
    }
    return Sample(phi=phi_word, theta=theta_word, bend=bend_word, present=present_word,
                  truth=truth)


def simulate_muons(n_events: int, seed: int, cfg: SimulationConfig | None = None) -> Sample:
    """Simulate the flat-q/pT muon gun sample (``muons`` tree)."""
    cfg = cfg or SimulationConfig()
    _check_count(n_events)
    rng = np.random.default_rng([seed, 1])
    inv_pt = rng.uniform(1.0 / cfg.pt_max, 1.0 / cfg.pt_min, n_events)
    charge = rng.choice(np.array([-1.0, 1.0]), n_events)
    return _generate(rng, charge * inv_pt, cfg)


def simulate_minbias(n_events: int, seed: int, cfg: SimulationConfig | None = None) -> Sample:
    """Simulate the minimum-bias sample (``minbias`` tree), dN/dpT ~ pT^-n above pt_min."""
    cfg = cfg or SimulationConfig()
    _check_count(n_events)
    rng = np.random.default_rng([seed, 2])
    # Inverse CDF of a power law truncated to [pt_min, pt_max].
    k = cfg.minbias_pt_power - 1.0
    u = rng.random(n_events)
    lo, hi = cfg.pt_min ** (-k), cfg.pt_max ** (-k)
    pt = (lo - u * (lo - hi)) ** (-1.0 / k)
    charge = rng.choice(np.array([-1.0, 1.0]), n_events)
    return _generate(rng, charge / pt, cfg)


def minbias_rate_per_event(cfg: SimulationConfig, n_minbias: int) -> float:
    """Trigger rate (Hz) that one passing minbias event stands for.

    ``rate(threshold) = n_passing * minbias_rate_per_event(cfg, n_minbias)``.
    """
    if n_minbias <= 0:
        raise ValueError("n_minbias must be positive")
    return cfg.bunch_crossing_rate_hz * cfg.minbias_muon_fraction / n_minbias


def _check_count(n_events: int) -> None:
    if n_events < 0:
        raise ConfigError(f"number of events must be >= 0, got {n_events}")
