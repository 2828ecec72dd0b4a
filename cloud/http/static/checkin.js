// Fills the check-in form's position from the phone's GPS. Served as a
// file ('self' in the pages' Content-Security-Policy), not inline, which
// the policy blocks.
(function () {
  var form = document.getElementById('checkin-form');
  if (!form || !navigator.geolocation) return;
  navigator.geolocation.getCurrentPosition(function (p) {
    document.getElementById('lat').value = p.coords.latitude;
    document.getElementById('lon').value = p.coords.longitude;
    document.getElementById('where').textContent = 'Position: ' + p.coords.latitude.toFixed(5) + ', ' +
      p.coords.longitude.toFixed(5) + ' (±' + Math.round(p.coords.accuracy) + ' m)';
  }, function () {}, { enableHighAccuracy: true, timeout: 10000 });
})();
