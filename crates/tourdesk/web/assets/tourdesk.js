// The one script an operator's website includes:
//   <script type="module" src="https://bookings.example.com/assets/tourdesk.js"></script>
//   <booking-flow tour-id="1"></booking-flow>
export { BookingCalendar } from './booking-calendar.js';
export { BookingFlow } from './booking-flow.js';
