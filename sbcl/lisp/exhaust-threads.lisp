;;;; Address-space exhaustion, then recovery. Exits 104 when it passes.
;;;;
;;;; The process limits its own address space (RLIMIT_AS) to what it uses
;;;; now (mostly the 8 GiB dynamic space reservation) plus room for about
;;;; 160 thread blocks (720 MiB), then:
;;;;  1. makes threads that wait for a flag until MAKE-THREAD fails (from
;;;;     a thread of its own, counted among them);
;;;;  2. lets every thread end, drops them and collects garbage (0.9.4.1
;;;;     reaps a dead thread only from its finalizer after a collection);
;;;;  3. makes and waits for one thread at a time, SBCL_TEST_ARGS rounds
;;;;     (default 200), without collecting on purpose: a loop that conses
;;;;     this little rarely collects, so the dead threads pile up
;;;;     unreaped between collections.
;;;; Passes when phase 1 made at least 100 threads and every round of
;;;; phase 3 made its thread. Upstream's thread library makes about 150
;;;; and then about as many rounds: each dead, unreaped thread keeps its
;;;; whole block (4.3 MiB) mapped, and the next collection is far away.
;;;; Ours, under an address-space limit, has each dead thread unmap what
;;;; nobody reads of its block (src/thread/dormant.rs): about 48 KiB stay,
;;;; room for some 13,000 rounds. `make sbcl-test' runs 2000 rounds with
;;;; our library (not on the control); RELIABILITY.md has 10,000.

(in-package "CL-USER")

(load (merge-pathnames "common.lisp" *load-truename*))

(defvar *rounds* (test-arg 200))
(defvar *room* (* 160 9/2 1024 1024))
(defvar *go* nil)

(defun vm-size ()
  "VmSize of /proc/self/status, in bytes."
  (with-open-file (s "/proc/self/status")
    (loop for line = (read-line s nil)
          while line
          when (and (> (length line) 7) (string= "VmSize:" line :end2 7))
            return (* 1024 (parse-integer line :start 7 :junk-allowed t)))))

(defun limit-address-space (bytes)
  "Sets the soft RLIMIT_AS (9) to BYTES; the hard limit stays."
  (let ((buf (sb-alien:make-alien (sb-alien:unsigned 64) 2)))
    (unwind-protect
         (progn
           (sb-alien:alien-funcall
            (sb-alien:extern-alien "getrlimit" (function sb-alien:int sb-alien:int (* (sb-alien:unsigned 64))))
            9 buf)
           (setf (sb-alien:deref buf 0) bytes)
           (assert (zerop (sb-alien:alien-funcall
                           (sb-alien:extern-alien "setrlimit"
                                                  (function sb-alien:int sb-alien:int (* (sb-alien:unsigned 64))))
                           9 buf))))
      (sb-alien:free-alien buf))))

(defun try-make-thread (function)
  "A new thread, or NIL when MAKE-THREAD fails."
  (handler-case (sb-thread:make-thread function :name "exhaust")
    (error () nil)))

(defun dead-unreaped ()
  "libsbthread's threads_live minus the live Lisp threads, or NIL."
  (let ((live (first (sbthread-stat-words :threads-live))))
    (and live (- live (length (sb-thread:list-all-threads))))))

(defun phase-1 ()
  "Phase 1 in a thread of its own: once it has ended, no stale word of its
stack can keep the list of threads alive (the collector scans stacks
conservatively, and the main thread's would)."
  (let* ((made nil)
         (maker (sb-thread:make-thread
                 (lambda ()
                   (let ((threads '()))
                     (loop for th = (try-make-thread (lambda () (loop until *go* do (sleep 0.01))))
                           while th
                           do (push th threads))
                     (setf *go* t)
                     (mapc #'wait-until-dead threads)
                     (setf made (length threads)))))))
    (wait-until-dead maker)
    made))

(let* ((base (vm-size))
       (limit (+ base *room*)))
  (limit-address-space limit)
  (format t "~&exhaust: address space limited to ~D MiB (~D MiB in use)~%"
          (floor limit (* 1024 1024)) (floor base (* 1024 1024)))
  (let ((made (phase-1)))
    (format t "~&exhaust: ~D threads made before MAKE-THREAD failed; ~D MiB mapped with them dead~@[, ~D unreaped~]~%"
            made (floor (vm-size) (* 1024 1024)) (dead-unreaped))
    (sb-ext:gc :full t)
    (format t "~&exhaust: after a collection: ~D MiB mapped~@[, ~D dead threads unreaped~]~%"
            (floor (vm-size) (* 1024 1024)) (dead-unreaped))
    (let ((ok 0) (failed 0) (first-failure nil) (most-mapped 0))
      (dotimes (i *rounds*)
        (let ((th (try-make-thread (lambda () nil))))
          (cond (th (incf ok) (wait-until-dead th))
                (t (incf failed) (unless first-failure (setf first-failure i)))))
        (when (or (zerop (mod (1+ i) 1000)) (= (1+ i) *rounds*))
          (setf most-mapped (max most-mapped (vm-size)))
          (format t "~&exhaust: round ~D: ~D made, ~D failed; ~D MiB mapped~@[, ~D dead threads unreaped~]~%"
                  (1+ i) ok failed (floor (vm-size) (* 1024 1024)) (dead-unreaped))
          (finish-output)))
      (format t "~&exhaust: ~D threads first, then ~D of ~D one at a time~@[ (first failure in round ~D)~]~%"
              made ok *rounds* first-failure)
      (sb-ext:quit :unix-status (if (and (>= made 100) (zerop failed)) 104 1)))))
