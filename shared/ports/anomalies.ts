/** One hour the volume model flagged, as the GCP half reports it (DESIGN §3, §4). */
export interface FlaggedHour {
  readonly series: string;
  /** The hour's start, epoch ms. */
  readonly hourMs: number;
  readonly expected: number;
  readonly actual: number;
  readonly lowerBound: number;
  readonly upperBound: number;
  readonly probability?: number;
}

/** Asks the volume model which closed hours of a window are anomalous (and records them). */
export interface AnomalySource {
  detect(window: { readonly fromMs: number; readonly toMs: number }): Promise<FlaggedHour[]>;
}
