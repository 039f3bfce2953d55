/**
 * statusPage: the status page and its JSON API over HTTP (deployed without unauthenticated
 * access; see README "Status page"). Reads the persisted status picture; operators listed in
 * statusPage.operators may publish reloads and backfills.
 */
import { http } from '@google-cloud/functions-framework';
import { gcpStatusPageHandler } from '../../shared/status-page/gcp.ts';

http('statusPage', (req, res) => gcpStatusPageHandler()(req, res));
