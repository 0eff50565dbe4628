import { checkerHandler, type CheckerShellDeps } from '../../shared/checker';
import type { CrmSynced } from '../../shared/events/envelope';
import type { CrmLookup, CrmName } from '../../shared/ports';
import { checkCrm, NAME, repairOf, type CrmConfig, type CrmFact } from './core';

export interface CrmCheckerDeps extends CheckerShellDeps {
  readonly config: CrmConfig;
  /** The CRMs whose credentials are configured; a sync to another is not checked. */
  readonly crms: Partial<Record<CrmName, CrmLookup>>;
}

/** Asks the CRM the event names for the record it says was synced. */
export async function lookUpRecord(sync: CrmSynced, crms: Partial<Record<CrmName, CrmLookup>>): Promise<CrmFact> {
  const crm = crms[sync.data.crm];
  return crm ? crm.record(sync.data.crm_record_id) : { kind: 'unchecked' };
}

/**
 * crm-checker on events-unique: crm.synced → findings. With repair on, the event's values are
 * written back to the record before the findings say `corrected`; the decision is recorded first
 * (the outcome ledger), so a redelivery repeats the same write of the same values, never another.
 */
export function crmCheckerHandler(deps: CrmCheckerDeps) {
  return checkerHandler(
    NAME,
    'crm.synced',
    deps,
    async (sync, _timeMs, now) => checkCrm(sync, await lookUpRecord(sync, deps.crms), { now, config: deps.config }),
    async (sync, outcome) => {
      const fields = repairOf(sync, outcome);
      const crm = deps.crms[sync.data.crm];
      if (fields && crm) await crm.update(sync.data.crm_record_id, fields);
    },
  );
}
